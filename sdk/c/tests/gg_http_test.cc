// Unit tests of the C SDK: the sans-I/O pieces (HTTP response parser incl. chunked bodies,
// base64, JSON helpers, ARN rules) and the library's calls against a fake core (wire shapes of
// publish / invoke / shadow / secrets, status mapping, keep-alive reuse, gg_log into the fd).

#include "gg_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "greengrasssdk.h"

namespace {

std::string bufStr(const gg_buf& b) {
  return b.data ? std::string(reinterpret_cast<const char*>(b.data), b.len) : std::string();
}

struct Parser {
  gg_http_response r;
  explicit Parser(size_t max_header = 4096, size_t max_body = 1 << 20) {
    gg_http_response_init(&r, max_header, max_body);
  }
  ~Parser() { gg_http_response_free(&r); }
  // Feeds the text in pieces of `step` bytes; returns the final parser result.
  int feed(const std::string& s, size_t step, size_t* total_used = nullptr) {
    int rc = GG_HTTP_MORE;
    size_t off = 0;
    while (off < s.size() && rc == GG_HTTP_MORE) {
      size_t n = std::min(step, s.size() - off), used = 0;
      rc = gg_http_response_feed(&r, s.data() + off, n, &used);
      off += used;
    }
    if (total_used) *total_used = off;
    return rc;
  }
};

// ---- parser ------------------------------------------------------------------------------------

TEST(HttpParserTest, ContentLengthResponseWithIpcHeaders) {
  const std::string msg =
      "HTTP/1.1 200 OK\r\nx-amz-invocationid: 1234-abcd\r\nX-Amz-Function-Error: \r\n"
      "X-Amz-Client-Context: eyJhIjoxfQ==\r\nContent-Length: 5\r\n\r\nhello";
  for (size_t step : {size_t{1}, size_t{3}, msg.size()}) {
    Parser p;
    size_t used = 0;
    ASSERT_EQ(p.feed(msg, step, &used), GG_HTTP_DONE) << "step " << step;
    EXPECT_EQ(used, msg.size());
    EXPECT_EQ(p.r.status, 200);
    EXPECT_EQ(p.r.keep_alive, 1);
    EXPECT_STREQ(p.r.invocation_id, "1234-abcd");
    EXPECT_EQ(p.r.has_function_error, 1);
    EXPECT_STREQ(p.r.function_error, "");
    EXPECT_EQ(bufStr(p.r.client_context), "eyJhIjoxfQ==");
    EXPECT_EQ(bufStr(p.r.body), "hello");
  }
}

TEST(HttpParserTest, ChunkedBodyWithExtensionsAndTrailers) {
  const std::string msg =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Amz-Function-Error: Handled\r\n\r\n"
      "5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n";
  for (size_t step : {size_t{1}, size_t{2}, size_t{7}, msg.size()}) {
    Parser p;
    ASSERT_EQ(p.feed(msg, step), GG_HTTP_DONE)
        << "step " << step << ": " << (p.r.error ? p.r.error : "");
    EXPECT_EQ(bufStr(p.r.body), "hello 0123456789");
    EXPECT_STREQ(p.r.function_error, "Handled");
  }
}

TEST(HttpParserTest, StopsAtTheEndOfOneResponse) {
  const std::string two =
      "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: "
      "2\r\n\r\nok";
  Parser p;
  size_t used = 0;
  ASSERT_EQ(gg_http_response_feed(&p.r, two.data(), two.size(), &used), GG_HTTP_DONE);
  EXPECT_EQ(p.r.status, 202);
  EXPECT_EQ(two.substr(used, 8), "HTTP/1.1");
  gg_http_response_reset(&p.r);
  size_t used2 = 0;
  ASSERT_EQ(gg_http_response_feed(&p.r, two.data() + used, two.size() - used, &used2),
            GG_HTTP_DONE);
  EXPECT_EQ(p.r.status, 200);
  EXPECT_EQ(bufStr(p.r.body), "ok");
}

TEST(HttpParserTest, BodyUntilCloseAndConnectionClose) {
  Parser p;
  ASSERT_EQ(p.feed("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npartial", 4), GG_HTTP_MORE);
  EXPECT_EQ(gg_http_response_eof(&p.r), GG_HTTP_DONE);
  EXPECT_EQ(p.r.keep_alive, 0);
  EXPECT_EQ(bufStr(p.r.body), "partial");

  Parser q;  // HTTP/1.0 without keep-alive closes
  ASSERT_EQ(q.feed("HTTP/1.0 204 No Content\r\n\r\n", 100), GG_HTTP_DONE);
  EXPECT_EQ(q.r.keep_alive, 0);
}

TEST(HttpParserTest, InterimResponseIsSkipped) {
  Parser p;
  ASSERT_EQ(p.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 5),
            GG_HTTP_DONE);
  EXPECT_EQ(p.r.status, 200);
  EXPECT_EQ(bufStr(p.r.body), "x");
}

TEST(HttpParserTest, MalformedInputIsAnErrorNotACrash) {
  const char* bad[] = {
      "HTTX/1.1 200 OK\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nNoColonHere\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n",
  };
  for (const char* b : bad) {
    Parser p;
    EXPECT_EQ(p.feed(b, 3), GG_HTTP_ERROR) << b;
    ASSERT_NE(p.r.error, nullptr) << b;
    // Once failed, it stays failed.
    EXPECT_EQ(gg_http_response_feed(&p.r, "x", 1, nullptr), GG_HTTP_ERROR);
  }
}

TEST(HttpParserTest, LimitsAreEnforced) {
  Parser small_head(64, 1024);
  EXPECT_EQ(small_head.feed("HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n", 10),
            GG_HTTP_ERROR);
  Parser small_body(4096, 4);
  EXPECT_EQ(small_body.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 100), GG_HTTP_ERROR);
  EXPECT_STREQ(small_body.r.error, "response body over the size limit");
  Parser small_chunks(4096, 4);
  EXPECT_EQ(small_chunks.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
                              "3\r\ndef\r\n0\r\n\r\n",
                              100),
            GG_HTTP_ERROR);
  Parser until_close(4096, 4);
  EXPECT_EQ(until_close.feed("HTTP/1.1 200 OK\r\n\r\n12345", 100), GG_HTTP_ERROR);
  Parser long_id;
  EXPECT_EQ(
      long_id.feed("HTTP/1.1 200 OK\r\nX-Amz-InvocationId: " + std::string(200, 'i') + "\r\n\r\n",
                   100),
      GG_HTTP_ERROR);
}

TEST(HttpParserTest, EofInTheMiddleIsAnError) {
  Parser p;
  ASSERT_EQ(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", 100), GG_HTTP_MORE);
  EXPECT_EQ(gg_http_response_eof(&p.r), GG_HTTP_ERROR);
  Parser q;
  EXPECT_EQ(gg_http_response_eof(&q.r), GG_HTTP_ERROR);
  EXPECT_STREQ(q.r.error, "connection closed before a response");
}

// ---- encodings ---------------------------------------------------------------------------------

TEST(EncodingTest, Base64RoundTrip) {
  const std::pair<std::string, std::string> cases[] = {
      {"", ""},        {"f", "Zg=="},        {"fo", "Zm8="},
      {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {std::string("\x00\xff\x10", 3), "AP8Q"}};
  for (const auto& [plain, enc] : cases) {
    gg_buf e;
    gg_buf_init(&e);
    ASSERT_EQ(gg_base64_encode(&e, plain.data(), plain.size()), 0);
    EXPECT_EQ(bufStr(e), enc);
    gg_buf d;
    gg_buf_init(&d);
    ASSERT_EQ(gg_base64_decode(&d, enc.data(), enc.size()), 0);
    EXPECT_EQ(bufStr(d), plain);
    gg_buf_free(&e);
    gg_buf_free(&d);
  }
  for (const char* bad : {"Zg=", "Z===", "Zm9v!A==", "=Zm9", "Zg==Zg=="}) {
    gg_buf d;
    gg_buf_init(&d);
    EXPECT_EQ(gg_base64_decode(&d, bad, strlen(bad)), -2) << bad;
    gg_buf_free(&d);
  }
  EXPECT_EQ(gg_base64_charset_ok("eyJhIjoxfQ=="), 1);
  EXPECT_EQ(gg_base64_charset_ok("ey J"), 0);
  EXPECT_EQ(gg_base64_charset_ok("ab\r\nX-Evil: 1"), 0);
  EXPECT_EQ(gg_base64_charset_ok(""), 0);
}

TEST(EncodingTest, JsonStringEscaping) {
  gg_buf b;
  gg_buf_init(&b);
  ASSERT_EQ(gg_json_append_string(&b, "a\"b\\c\n\x01/é"), 0);
  EXPECT_EQ(bufStr(b), "\"a\\\"b\\\\c\\n\\u0001/é\"");
  gg_buf_free(&b);
}

TEST(EncodingTest, TopLevelKeyProbe) {
  auto has = [](const std::string& j, const char* k) {
    return gg_json_has_top_level_key(j.data(), j.size(), k);
  };
  EXPECT_EQ(has(R"({"code":404,"message":"x"})", "code"), 1);
  EXPECT_EQ(has(R"( { "a" : 1 , "message" : "x"})", "message"), 1);
  EXPECT_EQ(has(R"({"state":{"code":1},"v":"code"})", "code"), 0);  // nested / a value
  EXPECT_EQ(has(R"({"a":["code",{"code":1}]})", "code"), 0);
  EXPECT_EQ(has(R"({"a\"code":1})", "code"), 0);
  EXPECT_EQ(has(R"(["code"])", "code"), 0);
  EXPECT_EQ(has(R"({"code)", "code"), 0);
  EXPECT_EQ(has("", "code"), 0);
}

TEST(ArnTest, InvokeArnAndQualifierRules) {
  auto build = [](const char* arn, const char* q, std::string* out) {
    gg_buf b;
    gg_buf_init(&b);
    int rc = gg_build_invoke_arn(&b, arn, q);
    *out = bufStr(b);
    gg_buf_free(&b);
    return rc;
  };
  std::string s;
  EXPECT_EQ(build("arn:aws:lambda:us-east-1:123456789012:function:F", "PROD", &s), 0);
  EXPECT_EQ(s, "arn:aws:lambda:us-east-1:123456789012:function:F:PROD");
  EXPECT_EQ(build("arn:aws:lambda:us-east-1:123456789012:function:F:1", "1", &s), 0);
  EXPECT_EQ(s, "arn:aws:lambda:us-east-1:123456789012:function:F:1");
  EXPECT_EQ(build("arn:aws:lambda:us-east-1:123456789012:function:F:1", nullptr, &s), 0);
  EXPECT_EQ(build("arn:aws:lambda:us-east-1:123456789012:function:F", "", &s), 0);
  EXPECT_EQ(s, "arn:aws:lambda:us-east-1:123456789012:function:F");
  EXPECT_EQ(build("arn:aws:lambda:us-east-1:123456789012:function:F:1", "2", &s), -2);
  EXPECT_EQ(build("arn:aws:lambda:us-east-1:123456789012:function:F", "a:b", &s), -2);
  EXPECT_EQ(build("F", nullptr, &s), -2);
  EXPECT_EQ(build("arn:aws:lambda:r:a:function:F:1:2", nullptr, &s), -2);
  EXPECT_EQ(build("arn:aws:lambda:r:a:function:F G", nullptr, &s), -2);
  EXPECT_EQ(build("arn:aws:lambda:r:a:function:F\r\nX: y", nullptr, &s), -2);
}

// ---- the library against a fake core -----------------------------------------------------------

struct Request {
  std::string method, path, body;
  std::map<std::string, std::string> headers;  // lower-case names
};

struct Reply {
  std::string raw;  // complete HTTP response
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string b64decode(const std::string& s) {
  gg_buf d;
  gg_buf_init(&d);
  EXPECT_EQ(gg_base64_decode(&d, s.data(), s.size()), 0) << s;
  std::string out = bufStr(d);
  gg_buf_free(&d);
  return out;
}

// A keep-alive HTTP server on 127.0.0.1 answering through a replaceable handler.
class FakeCore {
 public:
  FakeCore() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(listen_fd_, 16);
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~FakeCore() {
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    std::lock_guard<std::mutex> l(mu_);
    for (int fd : conns_) shutdown(fd, SHUT_RDWR);
    for (auto& t : workers_) t.detach();
  }
  uint16_t port() const { return port_; }
  void setHandler(std::function<std::string(const Request&)> h) {
    std::lock_guard<std::mutex> l(mu_);
    handler_ = std::move(h);
    requests_.clear();
  }
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  int accepted() const { return accepted_.load(); }

  static std::string response(int status, const std::map<std::string, std::string>& headers,
                              const std::string& body) {
    std::string r = "HTTP/1.1 " + std::to_string(status) + " X\r\n";
    for (const auto& [k, v] : headers) r += k + ": " + v + "\r\n";
    return r + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

 private:
  void acceptLoop() {
    for (;;) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      ++accepted_;
      std::lock_guard<std::mutex> l(mu_);
      conns_.push_back(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }
  void serve(int fd) {
    std::string in;
    char buf[4096];
    for (;;) {
      size_t he;
      while ((he = in.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) return void(close(fd));
        in.append(buf, static_cast<size_t>(n));
      }
      Request req;
      std::string head = in.substr(0, he);
      size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
      req.method = head.substr(0, sp1);
      req.path = head.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t pos = head.find("\r\n");
      while (pos != std::string::npos) {
        size_t next = head.find("\r\n", pos + 2);
        std::string line =
            head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
        size_t c = line.find(':');
        if (c != std::string::npos) {
          std::string v = line.substr(c + 1);
          while (!v.empty() && v[0] == ' ') v.erase(0, 1);
          req.headers[lower(line.substr(0, c))] = v;
        }
        pos = next;
      }
      size_t clen =
          std::stoul(req.headers.count("content-length") ? req.headers["content-length"] : "0");
      in.erase(0, he + 4);
      while (in.size() < clen) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) return void(close(fd));
        in.append(buf, static_cast<size_t>(n));
      }
      req.body = in.substr(0, clen);
      in.erase(0, clen);
      std::string out;
      {
        std::lock_guard<std::mutex> l(mu_);
        requests_.push_back(req);
        out = handler_ ? handler_(req) : response(500, {}, "no handler");
      }
      send(fd, out.data(), out.size(), MSG_NOSIGNAL);
    }
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> conns_;
  std::vector<std::thread> workers_;
  std::function<std::string(const Request&)> handler_;
  std::vector<Request> requests_;
  std::atomic<int> accepted_{0};
};

constexpr const char* kMyArn = "arn:aws:lambda:us-east-1:123456789012:function:Me:1";

// The SDK reads its environment once per process, so one fake core serves every library test.
class LibraryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    core_ = new FakeCore();
    ASSERT_EQ(pipe(log_pipe_), 0);
    setenv("GG_DAEMON_PORT", std::to_string(core_->port()).c_str(), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok123", 1);
    setenv("MY_FUNCTION_ARN", kMyArn, 1);
    setenv("LOG_LEVEL", "INFO", 1);
    setenv("_GG_LOG_FD_INFO", std::to_string(log_pipe_[1]).c_str(), 1);
    setenv("_GG_LOG_FD_WARN", std::to_string(log_pipe_[1]).c_str(), 1);
    setenv("_GG_LOG_FD_ERROR", std::to_string(log_pipe_[1]).c_str(), 1);
    setenv("_GG_LOG_FD_DEBUG", std::to_string(log_pipe_[1]).c_str(), 1);
    ASSERT_EQ(gg_global_init(0), GGE_SUCCESS);
  }
  static void TearDownTestSuite() {
    delete core_;
    close(log_pipe_[0]);
    close(log_pipe_[1]);
  }
  void SetUp() override { ASSERT_EQ(gg_request_init(&req_), GGE_SUCCESS); }
  void TearDown() override { gg_request_close(req_); }

  std::string readAll(size_t step) {
    std::string out;
    char buf[64];
    size_t n = 0;
    do {
      EXPECT_EQ(gg_request_read(req_, buf, std::min(step, sizeof(buf)), &n), GGE_SUCCESS);
      out.append(buf, n);
    } while (n > 0);
    return out;
  }

  static FakeCore* core_;
  static int log_pipe_[2];
  gg_request req_ = nullptr;
};

FakeCore* LibraryTest::core_ = nullptr;
int LibraryTest::log_pipe_[2] = {-1, -1};

TEST_F(LibraryTest, PublishWireShapeAndQueueFullPolicy) {
  core_->setHandler([](const Request& r) {
    bool all =
        b64decode(r.headers.at("x-amz-client-context")).find("AllOrError") != std::string::npos;
    return FakeCore::response(all ? 429 : 202, {{"X-Amz-InvocationId", "p1"}},
                              all ? R"({"errorMessage":"queue full"})" : "");
  });
  gg_request_result res{GG_REQUEST_UNKNOWN};
  ASSERT_EQ(gg_publish(req_, "t/1", "hi", 2, &res), GGE_SUCCESS);
  EXPECT_EQ(res.request_status, GG_REQUEST_SUCCESS);
  auto reqs = core_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/2016-11-01/functions/arn:aws:lambda:::function:GGRouter");
  EXPECT_EQ(reqs[0].headers["authorization"], "tok123");
  EXPECT_EQ(reqs[0].headers["x-amz-invocation-type"], "Event");
  EXPECT_EQ(reqs[0].body, "hi");
  EXPECT_EQ(b64decode(reqs[0].headers["x-amz-client-context"]),
            std::string(R"({"custom":{"source":")") + kMyArn +
                R"(","subject":"t/1","queueFullPolicy":""}})");

  gg_publish_options opts = nullptr;
  ASSERT_EQ(gg_publish_options_init(&opts), GGE_SUCCESS);
  EXPECT_EQ(gg_publish_options_set_queue_full_policy(opts, GG_QUEUE_FULL_POLICY_RESERVED_MAX),
            GGE_INVALID_PARAMETER);
  ASSERT_EQ(gg_publish_options_set_queue_full_policy(opts, GG_QUEUE_FULL_POLICY_ALL_OR_ERROR),
            GGE_SUCCESS);
  ASSERT_EQ(gg_publish_with_options(req_, "t/2", nullptr, 0, opts, &res), GGE_SUCCESS);
  EXPECT_EQ(res.request_status, GG_REQUEST_AGAIN);
  EXPECT_EQ(readAll(64), R"({"errorMessage":"queue full"})");
  ASSERT_EQ(gg_publish_options_set_queue_full_policy(opts, GG_QUEUE_FULL_POLICY_BEST_EFFORT),
            GGE_SUCCESS);
  ASSERT_EQ(gg_publish_with_options(req_, "t/3", "x", 1, opts, &res), GGE_SUCCESS);
  EXPECT_EQ(res.request_status, GG_REQUEST_SUCCESS);
  reqs = core_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_NE(
      b64decode(reqs[2].headers["x-amz-client-context"]).find(R"("queueFullPolicy":"BestEffort")"),
      std::string::npos);
  EXPECT_EQ(gg_publish_options_free(opts), GGE_SUCCESS);

  EXPECT_EQ(gg_publish(req_, "", "x", 1, &res), GGE_INVALID_PARAMETER);
  EXPECT_EQ(gg_publish(req_, "t", nullptr, 1, &res), GGE_INVALID_PARAMETER);
  EXPECT_EQ(gg_publish(nullptr, "t", "x", 1, &res), GGE_INVALID_PARAMETER);
}

TEST_F(LibraryTest, InvokeRequestResponseReadsChunkedResultInPieces) {
  core_->setHandler([](const Request& r) {
    if (r.method == "POST") return FakeCore::response(202, {{"X-Amz-InvocationId", "inv-7"}}, "");
    return std::string(
        "HTTP/1.1 200 OK\r\nX-Amz-Function-Error: \r\nTransfer-Encoding: chunked\r\n\r\n"
        "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n");
  });
  gg_invoke_options o{};
  o.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:Target";
  o.qualifier = "PROD";
  o.customer_context = "eyJjdXN0b20iOnsiayI6InYifX0=";
  o.type = GG_INVOKE_REQUEST_RESPONSE;
  o.payload = "in";
  o.payload_size = 2;
  gg_request_result res{GG_REQUEST_UNKNOWN};
  ASSERT_EQ(gg_invoke(req_, &o, &res), GGE_SUCCESS);
  EXPECT_EQ(res.request_status, GG_REQUEST_SUCCESS);
  EXPECT_EQ(readAll(3), "hello world");
  auto reqs = core_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  const std::string path =
      "/2016-11-01/functions/arn:aws:lambda:us-east-1:123456789012:function:Target:PROD";
  EXPECT_EQ(reqs[0].path, path);
  EXPECT_EQ(reqs[0].headers["x-amz-invocation-type"], "RequestResponse");
  EXPECT_EQ(reqs[0].headers["x-amz-client-context"], o.customer_context);
  EXPECT_EQ(reqs[0].body, "in");
  EXPECT_EQ(reqs[1].method, "GET");
  EXPECT_EQ(reqs[1].path, path);
  EXPECT_EQ(reqs[1].headers["x-amz-invocationid"], "inv-7");
}

TEST_F(LibraryTest, FunctionErrorHeaderMapsToRequestStatus) {
  std::string fe;
  core_->setHandler([&fe](const Request& r) {
    if (r.method == "POST") return FakeCore::response(202, {{"X-Amz-InvocationId", "i"}}, "");
    return FakeCore::response(200, {{"X-Amz-Function-Error", fe}}, R"({"errorMessage":"e"})");
  });
  gg_invoke_options o{};
  o.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:T:1";
  o.type = GG_INVOKE_REQUEST_RESPONSE;
  const std::pair<std::string, gg_request_status> cases[] = {{"Handled", GG_REQUEST_HANDLED},
                                                             {"Unhandled", GG_REQUEST_UNHANDLED},
                                                             {"Weird", GG_REQUEST_UNKNOWN},
                                                             {"", GG_REQUEST_SUCCESS}};
  for (const auto& [header, status] : cases) {
    fe = header;
    gg_request_result res{GG_REQUEST_RESERVED_MAX};
    ASSERT_EQ(gg_invoke(req_, &o, &res), GGE_SUCCESS);
    EXPECT_EQ(res.request_status, status) << header;
    EXPECT_EQ(readAll(64), R"({"errorMessage":"e"})");
  }
  // The core refusing the call (unknown function) is UNKNOWN with its message readable.
  core_->setHandler([](const Request&) {
    return FakeCore::response(404, {}, R"({"errorMessage":"no such function"})");
  });
  gg_request_result res{GG_REQUEST_SUCCESS};
  ASSERT_EQ(gg_invoke(req_, &o, &res), GGE_SUCCESS);
  EXPECT_EQ(res.request_status, GG_REQUEST_UNKNOWN);
  EXPECT_NE(readAll(7).find("no such function"), std::string::npos);
}

TEST_F(LibraryTest, ZeroedInvokeOptionsMeanEventAndConnectionsAreReused) {
  core_->setHandler([](const Request&) {
    return FakeCore::response(202, {{"X-Amz-InvocationId", "ev"}}, "");
  });
  int before = core_->accepted();
  gg_invoke_options o;
  memset(&o, 0, sizeof(o));
  o.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:T:1";
  for (int i = 0; i < 5; ++i) {
    gg_request_result res{GG_REQUEST_UNKNOWN};
    ASSERT_EQ(gg_invoke(req_, &o, &res), GGE_SUCCESS);
    EXPECT_EQ(res.request_status, GG_REQUEST_SUCCESS);
    EXPECT_EQ(readAll(8), "");
  }
  auto reqs = core_->requests();
  ASSERT_EQ(reqs.size(), 5u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.headers.at("x-amz-invocation-type"), "Event");
    EXPECT_EQ(r.headers.count("x-amz-client-context"), 0u);
  }
  EXPECT_LE(core_->accepted() - before, 1) << "keep-alive connections should be reused";
}

TEST_F(LibraryTest, InvalidArgumentsAreRefusedBeforeAnyRequest) {
  core_->setHandler(nullptr);
  gg_request_result res;
  gg_invoke_options o{};
  EXPECT_EQ(gg_invoke(req_, nullptr, &res), GGE_INVALID_PARAMETER);
  EXPECT_EQ(gg_invoke(req_, &o, &res), GGE_INVALID_PARAMETER);  // no ARN
  o.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:T:1";
  o.qualifier = "2";
  EXPECT_EQ(gg_invoke(req_, &o, &res), GGE_INVALID_PARAMETER);  // conflicting qualifier
  o.qualifier = nullptr;
  o.type = GG_INVOKE_RESERVED_MAX;
  EXPECT_EQ(gg_invoke(req_, &o, &res), GGE_INVALID_PARAMETER);
  o.type = GG_INVOKE_EVENT;
  o.customer_context = "not base64!\r\nX-Injected: 1";
  EXPECT_EQ(gg_invoke(req_, &o, &res), GGE_INVALID_PARAMETER);
  o.customer_context = nullptr;
  o.payload_size = 3;
  EXPECT_EQ(gg_invoke(req_, &o, &res), GGE_INVALID_PARAMETER);
  EXPECT_EQ(gg_get_secret_value(req_, "s", "v1", nullptr, &res), GGE_INVALID_PARAMETER);
  EXPECT_EQ(gg_get_secret_value(req_, nullptr, nullptr, nullptr, &res), GGE_INVALID_PARAMETER);
  EXPECT_EQ(gg_get_thing_shadow(req_, "a/b", &res), GGE_INVALID_PARAMETER);
  EXPECT_EQ(gg_update_thing_shadow(req_, "T", nullptr, &res), GGE_INVALID_PARAMETER);
  EXPECT_EQ(gg_global_init(1), GGE_INVALID_PARAMETER);
  EXPECT_EQ(gg_request_init(nullptr), GGE_INVALID_PARAMETER);
  size_t n = 9;
  EXPECT_EQ(gg_request_read(nullptr, nullptr, 0, &n), GGE_INVALID_PARAMETER);
  EXPECT_EQ(gg_log(GG_LOG_RESERVED_NOTSET, "x"), GGE_INVALID_PARAMETER);
  EXPECT_EQ(gg_log(GG_LOG_RESERVED_MAX, "x"), GGE_INVALID_PARAMETER);
  EXPECT_EQ(gg_runtime_start(nullptr, 0), GGE_INVALID_PARAMETER);
  EXPECT_TRUE(core_->requests().empty());
  // Handler-only calls outside a handler.
  char b[4];
  EXPECT_EQ(gg_lambda_handler_read(b, sizeof(b), &n), GGE_INVALID_STATE);
  EXPECT_EQ(gg_lambda_handler_write_response("x", 1), GGE_INVALID_STATE);
  EXPECT_EQ(gg_lambda_handler_write_error("x"), GGE_INVALID_STATE);
}

TEST_F(LibraryTest, ShadowAndSecretWireShapes) {
  core_->setHandler([](const Request& r) {
    if (r.method == "POST") return FakeCore::response(202, {{"X-Amz-InvocationId", "s"}}, "");
    if (r.path.find("GGShadowService") != std::string::npos) {
      return FakeCore::response(200, {{"X-Amz-Function-Error", ""}},
                                R"({"code":404,"message":"No shadow exists","timestamp":1})");
    }
    return FakeCore::response(200, {{"X-Amz-Function-Error", ""}},
                              R"({"ARN":"a","Name":"n","SecretString":"pw","CreatedDate":1})");
  });
  gg_request_result res{GG_REQUEST_SUCCESS};
  ASSERT_EQ(gg_get_thing_shadow(req_, "Thing1", &res), GGE_SUCCESS);
  EXPECT_EQ(res.request_status, GG_REQUEST_HANDLED);
  EXPECT_NE(readAll(10).find("No shadow exists"), std::string::npos);
  ASSERT_EQ(gg_update_thing_shadow(req_, "Thing1", R"({"state":{}})", &res), GGE_SUCCESS);
  ASSERT_EQ(gg_delete_thing_shadow(req_, "Thing1", &res), GGE_SUCCESS);
  ASSERT_EQ(gg_get_secret_value(req_, "db\"pw", nullptr, "AWSCURRENT", &res), GGE_SUCCESS);
  EXPECT_EQ(res.request_status, GG_REQUEST_SUCCESS);
  EXPECT_NE(readAll(64).find(R"("SecretString":"pw")"), std::string::npos);
  auto reqs = core_->requests();
  ASSERT_EQ(reqs.size(), 8u);
  EXPECT_EQ(reqs[0].path, "/2016-11-01/functions/arn:aws:lambda:::function:GGShadowService");
  EXPECT_EQ(reqs[0].headers["x-amz-invocation-type"], "RequestResponse");
  EXPECT_EQ(b64decode(reqs[0].headers["x-amz-client-context"]),
            R"({"custom":{"subject":"$aws/things/Thing1/shadow/get"}})");
  EXPECT_EQ(reqs[0].body, "");
  EXPECT_EQ(b64decode(reqs[2].headers["x-amz-client-context"]),
            R"({"custom":{"subject":"$aws/things/Thing1/shadow/update"}})");
  EXPECT_EQ(reqs[2].body, R"({"state":{}})");
  EXPECT_EQ(b64decode(reqs[4].headers["x-amz-client-context"]),
            R"({"custom":{"subject":"$aws/things/Thing1/shadow/delete"}})");
  EXPECT_EQ(reqs[6].path, "/2016-11-01/functions/arn:aws:lambda:::function:GGSecretManager:1");
  EXPECT_EQ(reqs[6].headers.count("x-amz-client-context"), 0u);
  EXPECT_EQ(reqs[6].body, R"({"SecretId":"db\"pw","VersionStage":"AWSCURRENT"})");
}

TEST_F(LibraryTest, MalformedCoreResponseIsAnInternalFailure) {
  // Not HTTP: the call fails cleanly (no crash, no hang) and the connection is dropped.
  core_->setHandler([](const Request&) { return std::string("garbage\r\n\r\n"); });
  gg_request_result res;
  gg_invoke_options o{};
  o.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:T:1";
  EXPECT_EQ(gg_invoke(req_, &o, &res), GGE_INTERNAL_FAILURE);
}

TEST_F(LibraryTest, LogGoesToTheLevelFdAndIsFiltered) {
  {  // drop what earlier tests logged (the library's own warnings)
    char junk[4096];
    int fl = fcntl(log_pipe_[0], F_GETFL);
    fcntl(log_pipe_[0], F_SETFL, fl | O_NONBLOCK);
    while (read(log_pipe_[0], junk, sizeof(junk)) > 0) {
    }
    fcntl(log_pipe_[0], F_SETFL, fl);
  }
  ASSERT_EQ(gg_log(GG_LOG_DEBUG, "hidden %d", 1), GGE_SUCCESS);  // LOG_LEVEL=INFO
  ASSERT_EQ(gg_log(GG_LOG_INFO, "hello %s %d", "log", 42), GGE_SUCCESS);
  std::string big(3000, 'z');
  ASSERT_EQ(gg_log(GG_LOG_WARN, "%s", big.c_str()), GGE_SUCCESS);
  std::string got;
  char buf[8192];
  while (got.size() < 13 + 3001) {
    ssize_t n = read(log_pipe_[0], buf, sizeof(buf));
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got, "hello log 42\n" + big + "\n");
}

}  // namespace
