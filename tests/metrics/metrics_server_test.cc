// MetricsServer over real loopback sockets: what each kind of request gets, the limits (header
// size, read time, keep-alive, connections), slow and hostile clients beside a scrape, stopping
// with clients connected, and listening errors.
#include <gtest/gtest.h>
#include <thriftpool/metrics_registry.h>
#include <thriftpool/metrics_server.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http_test_client.h"

namespace thriftpool::metrics_test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kBody[] = "# TYPE test_metric gauge\ntest_metric 1\n";
constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kGetMetrics[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

// A server whose render function returns kBody and counts its calls.
class MetricsServerTest : public ::testing::Test {
 protected:
  void Start(MetricsServerOptions options = {}) {
    server_ = std::make_unique<MetricsServer>(options, [this] {
      renders_.fetch_add(1);
      return std::string(kBody);
    });
  }
  int port() const { return server_->port(); }

  // Sends `request` on a new connection; returns the response.
  std::optional<HttpResponse> Exchange(const std::string& request, bool head = false) {
    HttpConnection connection(port());
    EXPECT_TRUE(connection.ok());
    EXPECT_TRUE(connection.Send(request));
    return connection.ReadResponse(seconds(5), head);
  }

  // Expects a quick, good scrape on a new connection.
  void ExpectScrapeWithin(milliseconds bound) {
    const Clock::time_point start = Clock::now();
    const std::optional<HttpResponse> response = HttpGet(port(), "/metrics", seconds(10));
    const auto took = Clock::now() - start;
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, kBody);
    EXPECT_LT(took, bound) << "the scrape took "
                           << std::chrono::duration_cast<milliseconds>(took).count() << " ms";
  }

  std::atomic<int> renders_{0};
  std::unique_ptr<MetricsServer> server_;
};

TEST_F(MetricsServerTest, GetMetricsAnswersTheRenderedTextAndKeepsTheConnection) {
  Start();
  HttpConnection connection(port());
  ASSERT_TRUE(connection.ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(connection.Send(kGetMetrics));
    const std::optional<HttpResponse> response = connection.ReadResponse(seconds(5));
    ASSERT_TRUE(response.has_value()) << "request " << i;
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->version, "HTTP/1.1");
    EXPECT_EQ(response->Header("content-type"), kContentType);
    EXPECT_EQ(response->body, kBody);
    EXPECT_NE(response->Header("connection"), "close");
  }
  EXPECT_EQ(renders_.load(), 3);
}

TEST_F(MetricsServerTest, QueryStringIsIgnoredAndHttp10IsAnsweredAndClosed) {
  Start();
  HttpConnection connection(port());
  ASSERT_TRUE(connection.Send("GET /metrics?name[]=x HTTP/1.0\r\n\r\n"));
  const std::optional<HttpResponse> response = connection.ReadResponse(seconds(5));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->version, "HTTP/1.0");
  EXPECT_EQ(response->body, kBody);
  EXPECT_TRUE(connection.ClosedWithin(seconds(5)));
}

TEST_F(MetricsServerTest, OtherMethodsOnMetricsGet405WithAllow) {
  Start();
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "HEAD"}) {
    const bool head = std::string(method) == "HEAD";
    const std::optional<HttpResponse> response =
        Exchange(std::string(method) + " /metrics HTTP/1.1\r\nHost: x\r\n\r\n", head);
    ASSERT_TRUE(response.has_value()) << method;
    EXPECT_EQ(response->status, 405) << method;
    EXPECT_EQ(response->Header("allow"), "GET") << method;
  }
  EXPECT_EQ(renders_.load(), 0);
}

TEST_F(MetricsServerTest, HeadGetsNoBodySoTheConnectionStaysInStep) {
  Start();
  HttpConnection connection(port());
  ASSERT_TRUE(connection.Send("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::optional<HttpResponse> head = connection.ReadResponse(seconds(5), /*head=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 405);
  ASSERT_TRUE(connection.Send(kGetMetrics));
  const std::optional<HttpResponse> get = connection.ReadResponse(seconds(5));
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 200) << "a body after the HEAD answer would be read as this response";
  EXPECT_EQ(get->body, kBody);
}

TEST_F(MetricsServerTest, OtherPathsGet404) {
  Start();
  for (const char* path : {"/", "/metrics/", "/metricsx", "/other", "*", "/METRICS"}) {
    const std::optional<HttpResponse> response =
        Exchange(std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_TRUE(response.has_value()) << path;
    EXPECT_EQ(response->status, 404) << path;
  }
  EXPECT_EQ(renders_.load(), 0);
}

TEST_F(MetricsServerTest, ARequestWithABodyIsRefusedAndClosed) {
  Start();
  const struct {
    const char* request;
    int status;
  } kCases[] = {
      {"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 405},
      {"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 400},
      {"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
       "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       400},
      {"PUT /other HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 404},
  };
  for (const auto& c : kCases) {
    HttpConnection connection(port());
    ASSERT_TRUE(connection.Send(c.request));
    const std::optional<HttpResponse> response = connection.ReadResponse(seconds(5));
    ASSERT_TRUE(response.has_value()) << c.request;
    EXPECT_EQ(response->status, c.status) << c.request;
    EXPECT_EQ(response->Header("connection"), "close") << c.request;
    EXPECT_TRUE(connection.ClosedWithin(seconds(5))) << c.request;
  }
  EXPECT_EQ(renders_.load(), 0);
}

TEST_F(MetricsServerTest, OversizedHeadersGet431AndTheConnectionIsClosed) {
  MetricsServerOptions options;
  options.max_header_bytes = 2048;
  Start(options);
  // Just within the limit passes.
  const std::string fits = "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(1900, 'a') + "\r\n\r\n";
  ASSERT_LE(fits.size(), 2048u);
  const std::optional<HttpResponse> ok = Exchange(fits);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);

  for (const std::size_t pad : {2100, 64 * 1024}) {
    HttpConnection connection(port());
    ASSERT_TRUE(
        connection.Send("GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(pad, 'a') + "\r\n\r\n"));
    const std::optional<HttpResponse> response = connection.ReadResponse(seconds(5));
    ASSERT_TRUE(response.has_value()) << pad;
    EXPECT_EQ(response->status, 431) << pad;
    EXPECT_TRUE(connection.ClosedWithin(seconds(5))) << pad;
  }
  // A header line that never ends is over the limit too.
  HttpConnection endless(port());
  ASSERT_TRUE(endless.Send("GET /" + std::string(4096, 'm')));
  const std::optional<HttpResponse> response = endless.ReadResponse(seconds(5));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(renders_.load(), 1);
}

TEST_F(MetricsServerTest, GarbageGets400AndTheConnectionIsClosed) {
  Start();
  const std::string kGarbage[] = {
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n",  // TLS hello
      "HELLO\r\n\r\n",
      "GET /metrics HTTP/9.9\r\n\r\n",
      "GET /metrics\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n",
      std::string("\0\0\0\0\r\n\r\n", 8),
  };
  for (const std::string& garbage : kGarbage) {
    HttpConnection connection(port());
    ASSERT_TRUE(connection.Send(garbage));
    const std::optional<HttpResponse> response = connection.ReadResponse(seconds(5));
    ASSERT_TRUE(response.has_value()) << testing::PrintToString(garbage);
    EXPECT_EQ(response->status, 400) << testing::PrintToString(garbage);
    EXPECT_TRUE(connection.ClosedWithin(seconds(5))) << testing::PrintToString(garbage);
  }
  EXPECT_EQ(renders_.load(), 0);
  ExpectScrapeWithin(seconds(2));
}

TEST_F(MetricsServerTest, ASilentClientIsDisconnectedAfterTheIoTimeout) {
  MetricsServerOptions options;
  options.io_timeout = milliseconds(500);
  Start(options);
  HttpConnection silent(port());
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(silent.ClosedWithin(seconds(5)));
  EXPECT_GE(Clock::now() - start, milliseconds(400));
}

TEST_F(MetricsServerTest, TheIoTimeoutBoundsTheWholeRequestNotEachByte) {
  MetricsServerOptions options;
  options.io_timeout = milliseconds(600);
  Start(options);
  HttpConnection trickle(port());
  const std::string request = kGetMetrics;
  const Clock::time_point start = Clock::now();
  bool closed = false;
  // A byte every 100 ms would take 4 s for the whole request; the server gives it 600 ms.
  for (std::size_t i = 0; i < request.size() && !closed; ++i) {
    trickle.Send(request.substr(i, 1));
    closed = trickle.ClosedWithin(milliseconds(100));
  }
  EXPECT_TRUE(closed);
  EXPECT_GE(Clock::now() - start, milliseconds(500));
  EXPECT_LT(Clock::now() - start, seconds(3));
  EXPECT_EQ(renders_.load(), 0);
}

TEST_F(MetricsServerTest, AKeptAliveConnectionIdleLongerThanTheIoTimeoutIsClosed) {
  MetricsServerOptions options;
  options.io_timeout = milliseconds(500);
  Start(options);
  HttpConnection connection(port());
  ASSERT_TRUE(connection.Send(kGetMetrics));
  ASSERT_TRUE(connection.ReadResponse(seconds(5)).has_value());
  EXPECT_TRUE(connection.ClosedWithin(seconds(5)));
}

TEST_F(MetricsServerTest, KeepAliveEndsAfterMaxRequestsPerConnection) {
  MetricsServerOptions options;
  options.max_requests_per_connection = 3;
  Start(options);
  HttpConnection connection(port());
  // Pipelined: all three at once.
  ASSERT_TRUE(connection.Send(std::string(kGetMetrics) + kGetMetrics + kGetMetrics));
  for (int i = 1; i <= 3; ++i) {
    const std::optional<HttpResponse> response = connection.ReadResponse(seconds(5));
    ASSERT_TRUE(response.has_value()) << i;
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->Header("connection") == "close", i == 3) << i;
  }
  EXPECT_TRUE(connection.ClosedWithin(seconds(5)));
}

// The guarantee: clients that send nothing, or a byte at a time, do not delay a scrape (each
// would hold a serial server for the whole io_timeout).
TEST_F(MetricsServerTest, SlowAndSilentClientsDoNotDelayAScrape) {
  Start();  // io_timeout 5 s
  std::vector<std::unique_ptr<HttpConnection>> silent;
  for (int i = 0; i < 8; ++i) {
    silent.push_back(std::make_unique<HttpConnection>(port()));
    ASSERT_TRUE(silent.back()->ok());
    if (i % 2 == 1) silent.back()->Send("GET /met");  // half a request line, then nothing
  }
  std::atomic<bool> done{false};
  std::thread trickler([&] {
    std::vector<std::unique_ptr<HttpConnection>> slow;
    for (int i = 0; i < 4; ++i) slow.push_back(std::make_unique<HttpConnection>(port()));
    const std::string request = kGetMetrics;
    for (std::size_t i = 0; i < request.size() && !done.load(); ++i) {
      for (auto& connection : slow) connection->Send(request.substr(i, 1));
      std::this_thread::sleep_for(milliseconds(250));
    }
  });
  std::this_thread::sleep_for(milliseconds(300));  // the slow ones are mid-request
  for (int i = 0; i < 5; ++i) ExpectScrapeWithin(seconds(2));
  done.store(true);
  trickler.join();
}

// Beyond max_connections, idle connections give way to new ones, so hostile clients cannot fill
// the server up either.
TEST_F(MetricsServerTest, ConnectionsBeyondTheLimitEvictTheOldestIdleOnes) {
  MetricsServerOptions options;
  options.max_connections = 4;
  Start(options);
  std::vector<std::unique_ptr<HttpConnection>> idle;
  for (int i = 0; i < 10; ++i) {
    idle.push_back(std::make_unique<HttpConnection>(port()));
    ASSERT_TRUE(idle.back()->ok());
    std::this_thread::sleep_for(milliseconds(20));  // accepted in this order
  }
  ExpectScrapeWithin(seconds(2));
  // The scrape's connection evicted one more: at most 3 of the 10 remain, the youngest ones.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(idle[i]->ClosedWithin(milliseconds(i < 7 ? 2000 : 200)), i < 7) << "connection " << i;
  }
  // A survivor is still served.
  ASSERT_TRUE(idle[9]->Send(kGetMetrics));
  const std::optional<HttpResponse> response = idle[9]->ReadResponse(seconds(5));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST_F(MetricsServerTest, ManyConcurrentScrapesAreAllAnswered) {
  Start();
  constexpr int kThreads = 8;
  constexpr int kScrapes = 25;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half the threads keep their connection alive between scrapes.
      HttpConnection kept(port());
      for (int i = 0; i < kScrapes; ++i) {
        std::optional<HttpResponse> response;
        if (t % 2 == 0) {
          response = HttpGet(port(), "/metrics", seconds(10));
        } else if (kept.Send(kGetMetrics)) {
          response = kept.ReadResponse(seconds(10));
        }
        if (response && response->status == 200 && response->body == kBody) good.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(good.load(), kThreads * kScrapes);
  EXPECT_EQ(renders_.load(), kThreads * kScrapes);
}

TEST_F(MetricsServerTest, ARenderFunctionThatThrowsGets500AndServingGoesOn) {
  std::atomic<bool> fail{true};
  server_ = std::make_unique<MetricsServer>(MetricsServerOptions{}, [&]() -> std::string {
    if (fail.load()) throw std::runtime_error("registry on fire");
    return kBody;
  });
  HttpConnection connection(port());
  ASSERT_TRUE(connection.Send(kGetMetrics));
  const std::optional<HttpResponse> failed = connection.ReadResponse(seconds(5));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->status, 500);
  EXPECT_NE(failed->body.find("registry on fire"), std::string::npos) << failed->body;
  fail.store(false);
  ASSERT_TRUE(connection.Send(kGetMetrics));
  const std::optional<HttpResponse> ok = connection.ReadResponse(seconds(5));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200);
}

TEST_F(MetricsServerTest, StoppingClosesConnectedClientsPromptly) {
  Start();
  HttpConnection silent(port());
  HttpConnection partial(port());
  ASSERT_TRUE(partial.Send("GET /metrics HTTP/1.1\r\nHo"));
  HttpConnection kept(port());
  ASSERT_TRUE(kept.Send(kGetMetrics));
  ASSERT_TRUE(kept.ReadResponse(seconds(5)).has_value());
  const Clock::time_point start = Clock::now();
  server_.reset();
  EXPECT_LT(Clock::now() - start, seconds(2)) << "the destructor waited for its clients";
  EXPECT_TRUE(silent.ClosedWithin(seconds(2)));
  EXPECT_TRUE(partial.ClosedWithin(seconds(2)));
  EXPECT_TRUE(kept.ClosedWithin(seconds(2)));
}

TEST_F(MetricsServerTest, StoppingWaitsForARenderUnderWay) {
  std::atomic<bool> rendering{false};
  std::atomic<bool> rendered{false};
  server_ = std::make_unique<MetricsServer>(MetricsServerOptions{}, [&] {
    rendering.store(true);
    std::this_thread::sleep_for(milliseconds(300));
    rendered.store(true);
    return std::string(kBody);
  });
  std::thread scraper([port = port()] { HttpGet(port, "/metrics", seconds(5)); });
  for (int i = 0; i < 500 && !rendering.load(); ++i) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_TRUE(rendering.load());
  server_.reset();
  EXPECT_TRUE(rendered.load()) << "the destructor returned while the render function ran";
  scraper.join();
}

TEST_F(MetricsServerTest, PortZeroPicksAFreePortAndUrlNamesIt) {
  Start();
  EXPECT_GT(port(), 0);
  EXPECT_EQ(server_->url(), "http://127.0.0.1:" + std::to_string(port()) + "/metrics");
  MetricsServerOptions second;
  second.port = 0;
  MetricsServer other(second, [] { return std::string(); });
  EXPECT_NE(other.port(), port());
}

TEST_F(MetricsServerTest, APortInUseThrowsNamingTheAddress) {
  Start();
  MetricsServerOptions options;
  options.port = port();
  try {
    MetricsServer clash(options, [] { return std::string(); });
    FAIL() << "a second server listens on the same port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port())), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
  }
  ExpectScrapeWithin(seconds(2));
}

TEST_F(MetricsServerTest, ServesIpv6Loopback) {
  MetricsServerOptions options;
  options.address = "::1";
  std::unique_ptr<MetricsServer> server;
  try {
    server = std::make_unique<MetricsServer>(options, [] { return std::string(kBody); });
  } catch (const std::runtime_error& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  EXPECT_EQ(server->url(), "http://[::1]:" + std::to_string(server->port()) + "/metrics");
  const std::optional<HttpResponse> response =
      HttpGet(server->port(), "/metrics", seconds(5), "::1");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST(MetricsServerOptionsTest, BadOptionsAreRefusedNamingTheField) {
  const auto expect_refused = [](MetricsServerOptions options, const std::string& field) {
    try {
      MetricsServer server(options, [] { return std::string(); });
      ADD_FAILURE() << "accepted bad " << field;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("MetricsServerOptions." + field), std::string::npos)
          << e.what();
    }
  };
  MetricsServerOptions options;
  options.address = "localhost";
  expect_refused(options, "address");
  options = {};
  options.address = "127.0.0.256";
  expect_refused(options, "address");
  options = {};
  options.port = 65536;
  expect_refused(options, "port");
  options = {};
  options.port = -1;
  expect_refused(options, "port");
  options = {};
  options.max_header_bytes = 100;
  expect_refused(options, "max_header_bytes");
  options = {};
  options.io_timeout = milliseconds(0);
  expect_refused(options, "io_timeout");
  options = {};
  options.max_requests_per_connection = 0;
  expect_refused(options, "max_requests_per_connection");
  options = {};
  options.max_connections = 0;
  expect_refused(options, "max_connections");
  EXPECT_THROW(MetricsServer(MetricsServerOptions{}, MetricsServer::RenderFunction()),
               std::invalid_argument);
}

TEST(MetricsServerDefaultTest, ServesTheDefaultRegistry) {
  PoolMetrics snapshot;
  snapshot.stats.max_cap = 7;
  MetricsRegistry::Registration registration = MetricsRegistry::Default().RegisterPool(
      "metrics_server_test", "", [&](PoolMetrics* m) { *m = snapshot; });
  MetricsServer server(MetricsServerOptions{});
  const std::optional<HttpResponse> response = HttpGet(server.port(), "/metrics");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_NE(response->body.find("thriftpool_connections_max{pool=\"metrics_server_test\"} 7"),
            std::string::npos)
      << response->body;
  EXPECT_EQ(response->body, MetricsRegistry::Default().Render());
}

}  // namespace
}  // namespace thriftpool::metrics_test
