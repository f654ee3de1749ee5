#include "ipc/ipc_server.h"

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <thread>

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
    return Status::ok();
  }
  std::atomic<int> waiting{0};
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
  void SetUp() override {
    core_ = std::make_unique<IpcCore>(IpcOptions{}, listener_, Log());
    core_->addFunction({kA, 3000, 0});
    ASSERT_TRUE(core_->addWorker(1, kA, "tokA", 1).isOk());
    IpcServerOptions o;
    o.port = 0;
    o.max_body_bytes = 1024;
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
  Client caller(server_->port());
  auto r = caller.call(http::verb::post, fn(kA),
                       {{"Authorization", "tokA"}, {"X-Amz-Invocation-Type", "Event"}}, "x");
  EXPECT_EQ(r.result_int(), 202u);
  std::promise<size_t> queued;
  asio::post(io_, [&] { queued.set_value(core_->stats()[0].queued); });
  EXPECT_EQ(queued.get_future().get(), 1u);
}

}  // namespace
}  // namespace evg::ipc
