// A service and nothing else: no _types.cpp, and a skeleton when no_skeleton is not given.
namespace cpp test.ping

service Ping {
  void ping(),
}
