// The sample service that exercises thriftpool end to end.
namespace cpp thriftpool.example

struct User {
  1: i64 id,
  2: string name,
  3: string email,
}

exception UserNotFound {
  1: i64 id,
  2: string message,
}

service UserService {
  // Returns the user with this id; UserNotFound when there is none.
  User getUser(1: i64 id) throws (1: UserNotFound notFound),
  // Stores a new user and returns its id.
  i64 createUser(1: string name, 2: string email),
  // Does nothing: a cheap liveness check.
  void ping(),
  // Sleeps ms milliseconds before answering: a slow call for timeout tests.
  void sleepMs(1: i32 ms),
}

// A second, small service, served next to UserService through one TMultiplexedProcessor by
// `user_server --multiplex` (clients then set ClientOptions::multiplexed_service).
service ServerInfo {
  // The number of users the server holds now.
  i64 userCount(),
  // Milliseconds since the server last started.
  i64 uptimeMs(),
}
