#include "ipc/ipc_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <thread>

#include "ipc/http_reader.h"
#include "ipc/peer_identity.h"

namespace evg::ipc {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

const std::string kA = "arn:aws:lambda:r:1:function:A:1";

struct NullListener : IpcListener {
  void onWorkQueued(const std::string&, size_t) override {}
  void onWorkStarted(WorkerId, const std::string&, uint32_t) override {}
  void onWorkFinished(WorkerId, const std::string&) override {}
  void onWorkerWaiting(WorkerId) override { waiting++; }
  void onWorkerInitialized(WorkerId, bool, const std::string&) override {}
  Status onPublish(const std::string&, const std::string&, std::shared_ptr<const std::string>,
                   std::string_view) override {
    publishes++;
    return Status::ok();
  }
  std::atomic<int> waiting{0};
  std::atomic<int> publishes{0};
};

class Client {
 public:
  explicit Client(uint16_t port) : sock_(io_) {
    sock_.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  http::response<http::string_body> call(http::verb verb, const std::string& target,
                                         std::map<std::string, std::string> headers,
                                         std::string body = {}) {
    send(verb, target, std::move(headers), std::move(body));
    return receive();
  }
  void send(http::verb verb, const std::string& target, std::map<std::string, std::string> headers,
            std::string body = {}) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "localhost");
    for (auto& [k, v] : headers) req.set(k, v);
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(sock_, req);
  }
  http::response<http::string_body> receive() {
    http::response<http::string_body> res;
    http::read(sock_, buf_, res);
    return res;
  }
  void close() { sock_.close(); }

 private:
  asio::io_context io_;
  tcp::socket sock_;
  beast::flat_buffer buf_;
};

class IpcServerTest : public ::testing::Test {
 protected:
  virtual IpcServerOptions options() {
    IpcServerOptions o;
    o.port = 0;
    o.max_body_bytes = 1024;
    return o;
  }
  void SetUp() override {
    core_ = std::make_unique<IpcCore>(IpcOptions{}, listener_, Log());
    core_->addFunction({kA, 3000, 0});
    ASSERT_TRUE(core_->addWorker(1, kA, "tokA", 1).isOk());
    IpcServerOptions o = options();
    server_ = std::make_unique<IpcServer>(io_, *core_, o, Log());
    ASSERT_TRUE(server_->start().isOk());
    guard_.emplace(io_.get_executor());
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    asio::post(io_, [this] { server_->stop(); });
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  std::string fn(const std::string& arn) { return "/2016-11-01/functions/" + arn; }
  template <typename T, typename F>
  T onLoop(F f) {
    std::promise<T> p;
    asio::post(io_, [&] { p.set_value(f()); });
    return p.get_future().get();
  }
  IpcServerStats stats() {
    return onLoop<IpcServerStats>([this] { return server_->stats(); });
  }
  // The connections the server holds, once it has closed them all (up to 5 s).
  size_t connectionsOnceClosed() {
    auto open = [this] { return onLoop<size_t>([this] { return server_->connectionCount(); }); };
    for (int i = 0; i < 500 && open() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return open();
  }
  // `worker` parks an E3 long poll with a publish pipelined behind it.
  void parkWithAPublishBehind(Client& worker) {
    worker.send(http::verb::get, fn(kA) + "/work", {{"Authorization", "tokA"}});
    worker.send(http::verb::post, "/2016-11-01/functions/" + std::string(kRouterArn),
                {{"Authorization", "tokA"},
                 {"X-Amz-Invocation-Type", "Event"},
                 {"X-Amz-Client-Context", "eyJjdXN0b20iOnsic3ViamVjdCI6InQvMSJ9fQ=="}},
                "behind");
    while (listener_.waiting == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // An Event invocation of A from a new caller connection (answered 202); returns how many
  // invocations of A are queued then (1 when no worker took it).
  size_t invokeEventAndCountQueued() {
    Client caller(server_->port());
    auto r = caller.call(http::verb::post, fn(kA),
                         {{"Authorization", "tokA"}, {"X-Amz-Invocation-Type", "Event"}}, "x");
    EXPECT_EQ(r.result_int(), 202u);
    return onLoop<size_t>([this] { return core_->stats()[0].queued; });
  }
  // An Event invocation of A from a new caller connection (answered 202), then the work item
  // `worker` (parked on E3) receives.
  http::response<http::string_body> invokeEvent(Client& worker, const std::string& payload) {
    Client caller(server_->port());
    auto r = caller.call(http::verb::post, fn(kA),
                         {{"Authorization", "tokA"}, {"X-Amz-Invocation-Type", "Event"}}, payload);
    EXPECT_EQ(r.result_int(), 202u);
    return worker.receive();
  }

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::thread thread_;
  NullListener listener_;
  std::unique_ptr<IpcCore> core_;
  std::unique_ptr<IpcServer> server_;
};

TEST_F(IpcServerTest, LongPollInvokeAndResultOverHttp) {
  Client worker(server_->port());
  worker.send(http::verb::get, fn(kA) + "/work", {{"Authorization", "tokA"}});
  while (listener_.waiting == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  Client caller(server_->port());
  auto r = caller.call(http::verb::post, fn(kA),
                       {{"Authorization", "tokA"},
                        {"X-Amz-Invocation-Type", "RequestResponse"},
                        {"X-Amz-Client-Context", "e30="}},
                       "{\"n\":1}");
  ASSERT_EQ(r.result_int(), 202u);
  std::string id(r["X-Amz-InvocationId"]);
  ASSERT_FALSE(id.empty());

  auto work = worker.receive();
  EXPECT_EQ(work.result_int(), 200u);
  EXPECT_EQ(std::string(work["X-Amz-InvocationId"]), id);
  EXPECT_EQ(std::string(work["X-Amz-Client-Context"]), "e30=");
  EXPECT_EQ(work.body(), "{\"n\":1}");

  // Keep-alive: the same connection posts the result.
  auto done = worker.call(http::verb::post, fn(kA) + "/work",
                          {{"Authorization", "tokA"}, {"X-Amz-InvocationId", id}}, "42");
  EXPECT_EQ(done.result_int(), 200u);

  auto res =
      caller.call(http::verb::get, fn(kA), {{"Authorization", "tokA"}, {"X-Amz-InvocationId", id}});
  EXPECT_EQ(res.result_int(), 200u);
  ASSERT_NE(res.find("X-Amz-Function-Error"), res.end()) << "header must be present when empty";
  EXPECT_EQ(std::string(res["X-Amz-Function-Error"]), "");
  EXPECT_EQ(res.body(), "42");
}

// A worker killed right after pipelining publishes (the SDK writes a publish without waiting
// for its 202 in the runtime's invocation thread) resets the connection with the answers
// unread: every publish it wrote is still routed, none is lost with the failed answer.
TEST_F(IpcServerTest, PipelinedPublishesCountAfterTheClientResetsTheConnection) {
  const int kCount = 20;
  std::string wire;
  for (int i = 0; i < kCount; ++i) {
    std::string body = "m" + std::to_string(i);
    wire += "POST /2016-11-01/functions/" + std::string(kRouterArn) +
            " HTTP/1.1\r\nHost: localhost\r\nAuthorization: tokA\r\n"
            "X-Amz-Invocation-Type: Event\r\n"
            // base64 of {"custom":{"subject":"t/1"}}
            "X-Amz-Client-Context: eyJjdXN0b20iOnsic3ViamVjdCI6InQvMSJ9fQ==\r\n"
            "Content-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(server_->port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::send(fd, wire.data(), wire.size(), 0), static_cast<ssize_t>(wire.size()));
  // Wait for the first answer, then close with it (and the rest) unread: an RST.
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
  for (int i = 0; i < 500 && listener_.publishes < kCount; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(listener_.publishes, kCount);
  EXPECT_EQ(connectionsOnceClosed(), 0u);  // the connection is gone once the reset is seen
}

// A request pipelined behind a parked long poll is handled once the poll is answered, from the
// loop (not inside the core's call that answered the poll), and answered after it, in order.
TEST_F(IpcServerTest, RequestPipelinedBehindAParkedPollIsHandledAfterItsAnswer) {
  Client worker(server_->port());
  parkWithAPublishBehind(worker);
  EXPECT_EQ(listener_.publishes, 0);  // held behind the parked poll
  auto work = invokeEvent(worker, "work");
  EXPECT_EQ(work.result_int(), 200u);
  EXPECT_EQ(work.body(), "work");
  auto published = worker.receive();
  EXPECT_EQ(published.result_int(), 202u);
  EXPECT_EQ(listener_.publishes, 1);
}

TEST_F(IpcServerTest, ErrorsAndBodyLimit) {
  Client c(server_->port());
  auto r = c.call(http::verb::post, fn(kA), {});
  EXPECT_EQ(r.result_int(), 401u);
  EXPECT_NE(r.body().find("Authorization"), std::string::npos);
  Client c2(server_->port());
  r = c2.call(http::verb::post, fn(kA), {{"Authorization", "tokA"}}, std::string(4096, 'x'));
  EXPECT_EQ(r.result_int(), 413u);
}

TEST_F(IpcServerTest, ClientDisconnectCancelsParkedPoll) {
  {
    Client worker(server_->port());
    worker.send(http::verb::get, fn(kA) + "/work", {{"Authorization", "tokA"}});
    while (listener_.waiting == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    worker.close();
  }
  // Wait until the server noticed, then work must stay queued instead of vanishing.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(invokeEventAndCountQueued(), 1u);
}

// A client gone while parked with a request pipelined behind the poll: the read that watches a
// parked connection buffers the pipelined bytes and still sees the close, so the park is
// cancelled and new work stays queued rather than going to the dead connection.
TEST_F(IpcServerTest, ClientGoneWithARequestPipelinedBehindItsParkedPollCancelsThePark) {
  {
    Client worker(server_->port());
    parkWithAPublishBehind(worker);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the pipelined bytes are read
    worker.close();
  }
  ASSERT_EQ(connectionsOnceClosed(), 0u);
  EXPECT_EQ(invokeEventAndCountQueued(), 1u);
  EXPECT_EQ(listener_.publishes, 0);  // never handled: its connection ended before its turn
}

// A plain connected TCP socket (no HTTP), closed on destruction.
class Raw {
 public:
  explicit Raw(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Raw() {
    if (fd_ >= 0) ::close(fd_);
  }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  bool ok() const { return ok_; }
  void send(std::string_view s) { (void)!::send(fd_, s.data(), s.size(), MSG_NOSIGNAL); }
  // Everything the server sends until it closes (or `ms` pass); closed() tells which.
  std::string readUntilClosed(int ms) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
  bool closed_ = false;
};

TEST_F(IpcServerTest, MalformedRequestIsAnswered400NamingTheProblem) {
  Raw r(server_->port());
  ASSERT_TRUE(r.ok());
  r.send("GET /2016-11-01/health/workers HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n");
  std::string out = r.readUntilClosed(5000);
  EXPECT_TRUE(r.closed());
  EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << out;
  EXPECT_NE(out.find("malformed HTTP request: bad field"), std::string::npos) << out;
  EXPECT_NE(out.find("\"errorType\":\"Invalid\""), std::string::npos) << out;

  Raw big(server_->port());
  big.send("GET / HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  out = big.readUntilClosed(5000);
  EXPECT_EQ(out.rfind("HTTP/1.1 431", 0), 0u) << out;
  EXPECT_NE(out.find("request header exceeds 16384 bytes"), std::string::npos) << out;
  EXPECT_EQ(stats().bad_requests, 2u);
}

TEST(PeerIdentityTest, LoopbackPeerUidIsTheClientSocketsOwner) {
  asio::io_context io;
  tcp::acceptor acc(io, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::socket client(io);
  client.connect(acc.local_endpoint());
  tcp::socket server = acc.accept();
  auto uid = tcpPeerUid(server.local_endpoint(), server.remote_endpoint());
  ASSERT_TRUE(uid.has_value()) << "sock_diag exact lookup failed";
  EXPECT_EQ(*uid, ::getuid());
}

class IpcServerLargeBodyTest : public IpcServerTest {
 protected:
  IpcServerOptions options() override {
    IpcServerOptions o = IpcServerTest::options();
    o.max_body_bytes = 8 * 1024 * 1024;
    return o;
  }
};

// An answer larger than the socket buffer, to a reader that is not reading yet: the part that
// fits is written inline, the rest when the socket drains; it arrives whole.
TEST_F(IpcServerLargeBodyTest, AnswerLargerThanTheSocketBufferArrivesWhole) {
  Client worker(server_->port());
  worker.send(http::verb::get, fn(kA) + "/work", {{"Authorization", "tokA"}});
  while (listener_.waiting == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::string big(6 * 1024 * 1024, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  Client caller(server_->port());
  auto r = caller.call(http::verb::post, fn(kA),
                       {{"Authorization", "tokA"}, {"X-Amz-Invocation-Type", "Event"}}, big);
  ASSERT_EQ(r.result_int(), 202u);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the answer waits, partly sent
  auto work = worker.receive();
  EXPECT_EQ(work.result_int(), 200u);
  EXPECT_EQ(work.body().size(), big.size());
  EXPECT_TRUE(work.body() == big);
  // The connection goes on: the worker's result is answered on it.
  auto done = worker.call(
      http::verb::post, fn(kA) + "/work",
      {{"Authorization", "tokA"}, {"X-Amz-InvocationId", std::string(work["X-Amz-InvocationId"])}},
      "ok");
  EXPECT_EQ(done.result_int(), 200u);
}

class IpcServerLimitsTest : public IpcServerTest {
 protected:
  IpcServerOptions options() override {
    IpcServerOptions o = IpcServerTest::options();
    o.max_connections = 64;
    o.max_connections_per_peer = 48;
    o.header_timeout_ms = 400;
    o.idle_timeout_ms = 400;
    return o;
  }
};

TEST_F(IpcServerLimitsTest, HalfOpenConnectionsAreClosedAfterTheHeaderTimeout) {
  std::vector<std::unique_ptr<Raw>> conns;
  for (int i = 0; i < 20; ++i) {
    conns.push_back(std::make_unique<Raw>(server_->port()));
    ASSERT_TRUE(conns.back()->ok());
    if (i % 2 == 1) conns.back()->send("GET /2016-11-01/health/workers HTTP/1.1\r\nHost: x\r\n");
  }
  auto start = std::chrono::steady_clock::now();
  for (auto& c : conns) {
    c->readUntilClosed(3000);
    EXPECT_TRUE(c->closed());
  }
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(2500));
  EXPECT_EQ(stats().header_timeouts, 20u);
  EXPECT_EQ(onLoop<size_t>([this] { return server_->connectionCount(); }), 0u);
}

TEST_F(IpcServerLimitsTest, ParkedLongPollOutlivesIdleTimeoutButIdleKeepAliveIsClosed) {
  Client worker(server_->port());
  worker.send(http::verb::get, fn(kA) + "/work", {{"Authorization", "tokA"}});
  while (listener_.waiting == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  Client idle(server_->port());
  auto h = idle.call(http::verb::get, "/2016-11-01/health/workers", {});
  EXPECT_EQ(h.result_int(), 200u);

  // Well past both the header and the idle timeout.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  auto work = invokeEvent(worker, "late");
  EXPECT_EQ(work.result_int(), 200u);
  EXPECT_EQ(work.body(), "late");
  EXPECT_GE(stats().idle_timeouts, 1u);
  EXPECT_THROW(idle.call(http::verb::get, "/2016-11-01/health/workers", {}), std::exception)
      << "the idle keep-alive connection was closed";
}

class IpcServerFloodTest : public IpcServerTest {
 protected:
  IpcServerOptions options() override {
    IpcServerOptions o = IpcServerTest::options();
    o.max_connections = 64;
    o.max_connections_per_peer = 64;
    o.header_timeout_ms = 60000;  // the flood stays until evicted
    return o;
  }
};

TEST_F(IpcServerFloodTest, HalfOpenFloodAtTheCapDoesNotLockOutWorkers) {
  Client worker(server_->port());
  worker.send(http::verb::get, fn(kA) + "/work", {{"Authorization", "tokA"}});
  while (listener_.waiting == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::vector<std::unique_ptr<Raw>> flood;
  for (int i = 0; i < 100; ++i) {
    flood.push_back(std::make_unique<Raw>(server_->port()));
    if (i % 3 == 0) flood.back()->send("POST /2016-11-01/functions/x HTTP/1.1\r\n");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_LE(onLoop<size_t>([this] { return server_->connectionCount(); }), 64u);

  auto start = std::chrono::steady_clock::now();
  Client caller(server_->port());
  auto r = caller.call(http::verb::post, fn(kA),
                       {{"Authorization", "tokA"}, {"X-Amz-Invocation-Type", "Event"}}, "in");
  ASSERT_EQ(r.result_int(), 202u);
  auto work = worker.receive();
  EXPECT_EQ(work.body(), "in");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  auto st = stats();
  EXPECT_GE(st.evicted, 37u);  // 1 worker + 100 + 1 caller into 64 slots
  EXPECT_EQ(st.refused, 0u);
}

class IpcServerPeerShareTest : public IpcServerTest {
 protected:
  IpcServerOptions options() override {
    IpcServerOptions o = IpcServerTest::options();
    o.max_connections = 100;
    o.max_connections_per_peer = 8;
    o.header_timeout_ms = 60000;
    return o;
  }
};

TEST_F(IpcServerPeerShareTest, OnePeerHoldsAtMostItsShare) {
  // Every connection here comes from this process's uid: one peer.
  std::vector<std::unique_ptr<Raw>> conns;
  for (int i = 0; i < 20; ++i) conns.push_back(std::make_unique<Raw>(server_->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(onLoop<size_t>([this] { return server_->connectionCount(); }), 8u);
  EXPECT_EQ(stats().evicted, 12u);
  // The oldest ones were recycled, the newest remain usable.
  conns.back()->send(
      "GET /2016-11-01/health/workers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(conns.back()->readUntilClosed(3000).rfind("HTTP/1.1 200", 0), 0u);
  conns.front()->readUntilClosed(1000);
  EXPECT_TRUE(conns.front()->closed());
}

TEST(HttpRequestReaderTest, ChunksPipeliningAndErrors) {
  HttpRequestReader r(HttpReaderLimits{1024, 16});
  using S = HttpRequestReader::State;
  std::string two =
      "POST /a?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nX-Amz-InvocationId: i\r\n\r\nabc"
      "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  S s = S::kEmpty;
  for (char c : two.substr(0, 20)) s = r.feed(std::string_view(&c, 1));
  EXPECT_EQ(s, S::kHeader);
  s = r.feed(two.substr(20, 55));
  EXPECT_EQ(s, S::kBody);
  s = r.feed(two.substr(75));
  ASSERT_EQ(s, S::kDone);
  HttpRequest a = r.take();
  EXPECT_EQ(a.method, "POST");
  EXPECT_EQ(a.path, "/a");
  EXPECT_EQ(a.body, "abc");
  ASSERT_NE(a.header("x-amz-invocationid"), nullptr);
  EXPECT_TRUE(r.keepAlive());
  ASSERT_EQ(r.next(), S::kDone);
  HttpRequest b = r.take();
  EXPECT_EQ(b.path, "/b");
  EXPECT_FALSE(r.keepAlive());
  EXPECT_EQ(r.next(), S::kEmpty);

  HttpRequestReader big(HttpReaderLimits{1024, 16});
  EXPECT_EQ(big.feed("POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n"), S::kFailed);
  EXPECT_EQ(big.failure().status, 413);
  HttpRequestReader bad(HttpReaderLimits{1024, 16});
  EXPECT_EQ(bad.feed("\x01\x02 / HTTP/1.1\r\n\r\n"), S::kFailed);
  EXPECT_EQ(bad.failure().status, 400);
  EXPECT_NE(bad.failure().body.find("malformed HTTP request"), std::string::npos);
}

}  // namespace
}  // namespace evg::ipc
