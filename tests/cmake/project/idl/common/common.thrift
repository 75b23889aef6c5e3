// Found by shop.thrift's include through INCLUDE_DIRS only.
namespace cpp test.common

struct Money {
  1: i64 cents,
}
