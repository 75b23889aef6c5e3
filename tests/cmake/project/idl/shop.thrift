// Two services, constants and an include: every kind of output that thrift 0.17 writes.
namespace cpp test.shop

include "common.thrift"

/* service CommentedOut { void f() }
   const i32 NOT_A_CONSTANT = 1 */
// service AlsoCommentedOut { void f() }
# service HashCommentedOut { void f() }

const i32 MAX_ITEMS = 42
const string MOTTO = "service InAString { void f() } // not a comment"

struct Item {
  1: string name,
  2: common.Money price,
}

service Catalog {
  Item find(1: string name),
}

service Basket extends Catalog {
  void add(1: Item item),
}
