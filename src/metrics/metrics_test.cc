#include <gtest/gtest.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

#include "metrics/http_server.h"
#include "metrics/prometheus.h"

namespace evg::metrics {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

TEST(ExpositionTest, FamiliesHeadersAndSamples) {
  Exposition e;
  e.counter("evg_messages_total", "Messages.", {{"source", "device"}}, 3);
  e.gauge("evg_connections", "Open connections.", {}, 2);
  e.counter("evg_messages_total", "Messages.", {{"source", "cloud"}}, 0);
  e.declare("evg_empty_total", "counter", "Nothing yet.");
  EXPECT_EQ(e.text(),
            "# HELP evg_messages_total Messages.\n"
            "# TYPE evg_messages_total counter\n"
            "evg_messages_total{source=\"device\"} 3\n"
            "evg_messages_total{source=\"cloud\"} 0\n"
            "# HELP evg_connections Open connections.\n"
            "# TYPE evg_connections gauge\n"
            "evg_connections 2\n"
            "# HELP evg_empty_total Nothing yet.\n"
            "# TYPE evg_empty_total counter\n");
}

TEST(ExpositionTest, EscapingAndValues) {
  EXPECT_EQ(Exposition::escapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(Exposition::formatValue(0.1), "0.1");
  EXPECT_EQ(Exposition::formatValue(12), "12");
  EXPECT_EQ(Exposition::formatValue(1.5e-7), "1.5e-07");
  EXPECT_EQ(Exposition::formatValue(1.0 / 0.0), "+Inf");
}

TEST(ExpositionTest, HistogramIsCumulative) {
  Exposition e;
  std::array<double, 2> bounds{0.1, 1};
  std::array<uint64_t, 3> counts{1, 2, 3};
  e.histogram("evg_duration_seconds", "Durations.", {{"f", "x"}}, bounds, counts, 9.5);
  EXPECT_EQ(e.text(),
            "# HELP evg_duration_seconds Durations.\n"
            "# TYPE evg_duration_seconds histogram\n"
            "evg_duration_seconds_bucket{f=\"x\",le=\"0.1\"} 1\n"
            "evg_duration_seconds_bucket{f=\"x\",le=\"1\"} 3\n"
            "evg_duration_seconds_bucket{f=\"x\",le=\"+Inf\"} 6\n"
            "evg_duration_seconds_sum{f=\"x\"} 9.5\n"
            "evg_duration_seconds_count{f=\"x\"} 6\n");
}

// One blocking HTTP exchange on a fresh connection; returns {status, body}.
std::pair<int, std::string> get(uint16_t port, const std::string& target,
                                http::verb verb = http::verb::get) {
  asio::io_context io;
  asio::ip::tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  http::request<http::empty_body> req(verb, target, 11);
  req.set(http::field::host, "127.0.0.1");
  http::write(s, req);
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  return {static_cast<int>(res.result_int()), res.body()};
}

TEST(HttpServerTest, ServesHandlerAndRefusesOtherMethods) {
  asio::io_context io;
  int calls = 0;
  HttpServer server(
      io, {},
      [&](const HttpRequest& r) {
        ++calls;
        if (r.target == "/metrics") return HttpResponse{200, std::string(kContentType), "x 1\n"};
        return HttpResponse{404, "text/plain", "not found\n"};
      },
      Log());
  ASSERT_TRUE(server.start().isOk());
  auto guard = asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  auto [st, body] = get(server.port(), "/metrics");
  EXPECT_EQ(st, 200);
  EXPECT_EQ(body, "x 1\n");
  EXPECT_EQ(get(server.port(), "/nope").first, 404);
  EXPECT_EQ(get(server.port(), "/metrics", http::verb::post).first, 405);
  asio::post(io, [&] {
    server.stop();
    guard.reset();
  });
  t.join();
  EXPECT_EQ(calls, 2);
}

TEST(HttpServerTest, ConnectionLimitAndOversizedHeader) {
  asio::io_context io;
  HttpServerOptions o;
  o.max_connections = 1;
  o.max_header_bytes = 256;
  HttpServer server(
      io, o,
      [](const HttpRequest&) {
        return HttpResponse{200, "text/plain", "ok"};
      },
      Log());
  ASSERT_TRUE(server.start().isOk());
  auto guard = asio::make_work_guard(io);
  std::thread t([&] { io.run(); });
  {
    // A header over the limit gets 400, not a crash.
    asio::io_context cio;
    asio::ip::tcp::socket s(cio);
    s.connect({asio::ip::make_address("127.0.0.1"), server.port()});
    std::string req = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1000, 'a') + "\r\n\r\n";
    asio::write(s, asio::buffer(req));
    boost::beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    EXPECT_EQ(res.result_int(), 400u);
  }
  {
    // While one connection is held open, a second one is closed at accept.
    asio::io_context cio;
    asio::ip::tcp::socket held(cio), extra(cio);
    held.connect({asio::ip::make_address("127.0.0.1"), server.port()});
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    extra.connect({asio::ip::make_address("127.0.0.1"), server.port()});
    char c;
    boost::system::error_code ec;
    extra.read_some(asio::buffer(&c, 1), ec);
    EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  }
  asio::post(io, [&] {
    server.stop();
    guard.reset();
  });
  t.join();
}

}  // namespace
}  // namespace evg::metrics
