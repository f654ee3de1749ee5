// HttpClient / AwsClient against small Beast servers run in a thread of the test: plain and
// mutual-TLS (certificates from evg_certs), reuse, retries with backoff, timeouts, stale pooled
// connections, and a server that re-verifies the SigV4 signature of what it received.
#include "aws/http_client.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <filesystem>
#include <thread>

#include "aws/aws_client.h"
#include "aws/test_server.h"
#include "base/asio.h"
#include "certs/certs.h"

namespace evg::aws {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using testsupport::Req;
using testsupport::Res;
using testsupport::signableFrom;
using testsupport::TestServer;
using testsupport::text;

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/evg_aws_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<HttpClient> client(HttpClientOptions o = {}, TlsOptions t = {}) {
    auto c = HttpClient::create(io_, o, t, Log());
    EXPECT_TRUE(c.isOk()) << c.status().toString();
    return c ? std::move(c).value() : nullptr;
  }
  // Runs the loop until the callback fired (bounded).
  Result<HttpResponse> call(HttpClient& c, const Endpoint& ep, HttpRequest req,
                            HttpClient::Prepare prepare = {}) {
    std::optional<Result<HttpResponse>> out;
    c.send(
        ep, std::move(req), [&](Result<HttpResponse> r) { out = std::move(r); },
        std::move(prepare));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!out && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(10));
      io_.restart();
    }
    if (!out) return Status::timeout("test: no callback");
    return std::move(*out);
  }
  Endpoint plain(uint16_t port) {
    return *Endpoint::parse("http://127.0.0.1:" + std::to_string(port));
  }
  std::string makeCerts() {
    EXPECT_TRUE(certs::ensureGroupCa(dir_).isOk());
    EXPECT_TRUE(certs::ensureServerCert(dir_, {}, {}).isOk());
    auto dev = certs::issueDeviceCert(dir_, "CoreThing", dir_);
    EXPECT_TRUE(dev.isOk());
    return dir_;
  }

  asio::io_context io_;
  std::string dir_;
};

TEST(EndpointTest, Parse) {
  auto e = Endpoint::parse("https://kinesis.us-east-1.amazonaws.com");
  ASSERT_TRUE(e.isOk());
  EXPECT_TRUE(e->tls);
  EXPECT_EQ(e->port, 443);
  EXPECT_EQ(e->hostHeader(), "kinesis.us-east-1.amazonaws.com");
  e = Endpoint::parse("http://127.0.0.1:4567/prefix/");
  ASSERT_TRUE(e.isOk());
  EXPECT_FALSE(e->tls);
  EXPECT_EQ(e->port, 4567);
  EXPECT_EQ(e->base_path, "/prefix");
  EXPECT_EQ(e->hostHeader(), "127.0.0.1:4567");
  e = Endpoint::parse("c2abc.credentials.iot.eu-west-1.amazonaws.com:8443");
  ASSERT_TRUE(e.isOk());
  EXPECT_TRUE(e->tls);
  EXPECT_EQ(e->port, 8443);
  EXPECT_FALSE(Endpoint::parse("ftp://x").isOk());
  EXPECT_FALSE(Endpoint::parse("https://host:99999").isOk());
  EXPECT_FALSE(Endpoint::parse("https://").isOk());
  EXPECT_FALSE(Endpoint::parse("https://bad host").isOk());
  auto s = serviceEndpoint("kinesis", "cn-north-1");
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ(s->host, "kinesis.cn-north-1.amazonaws.com.cn");
  s = serviceEndpoint("kinesis", "us-east-1", "http://127.0.0.1:1234");
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ(s->port, 1234);
}

TEST_F(HttpClientTest, RoundTripAndConnectionReuse) {
  TestServer srv({}, [](const Req& r) {
    return text(200, std::string(r.method_string()) + " " + std::string(r.target()) + " " +
                         std::string(r[http::field::host]) + " " + r.body());
  });
  auto c = client();
  HttpRequest req;
  req.method = "POST";
  req.target = "/a?b=1";
  req.body = "hello";
  auto r = call(*c, plain(srv.port()), req);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST /a?b=1 127.0.0.1:" + std::to_string(srv.port()) + " hello");
  r = call(*c, plain(srv.port()), req);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(srv.connections.load(), 1);
  EXPECT_EQ(c->stats().connections_opened, 1u);
  EXPECT_EQ(c->stats().connections_reused, 1u);
}

TEST_F(HttpClientTest, RetriesThrottlingAnd5xxWithBackoffThenSucceeds) {
  std::atomic<int> n{0};
  TestServer srv({}, [&](const Req&) {
    int i = n++;
    if (i == 0) return text(503, "busy");
    if (i == 1) return text(400, R"({"__type":"ProvisionedThroughputExceededException"})");
    return text(200, "ok");
  });
  HttpClientOptions o;
  o.retry_base_ms = 20;
  o.retry_max_ms = 40;
  auto c = client(o);
  auto r = call(*c, plain(srv.port()), HttpRequest{});
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(c->stats().retries, 2u);
  EXPECT_EQ(c->stats().attempts, 3u);
}

TEST_F(HttpClientTest, ExhaustedRetriesReturnTheLastResponseAndClientErrorsAreNotRetried) {
  std::atomic<int> n{0};
  TestServer srv({}, [&](const Req& r) {
    n++;
    return r.target() == "/bad" ? text(403, "denied") : text(500, "boom");
  });
  HttpClientOptions o;
  o.retry_base_ms = 1;
  o.max_attempts = 3;
  auto c = client(o);
  auto r = call(*c, plain(srv.port()), HttpRequest{});
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(n.load(), 3);
  HttpRequest bad;
  bad.target = "/bad";
  r = call(*c, plain(srv.port()), bad);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(n.load(), 4);
}

TEST_F(HttpClientTest, RequestTimeout) {
  TestServer::Options so;
  so.never_answer = true;
  TestServer srv(so, nullptr);
  HttpClientOptions o;
  o.request_timeout_ms = 200;
  o.max_attempts = 1;
  auto c = client(o);
  auto t0 = std::chrono::steady_clock::now();
  auto r = call(*c, plain(srv.port()), HttpRequest{});
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kTimeout) << r.status().toString();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(3));
}

TEST_F(HttpClientTest, ConnectionRefusedIsIoAfterRetries) {
  uint16_t port;
  {
    asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  HttpClientOptions o;
  o.retry_base_ms = 1;
  auto c = client(o);
  auto r = call(*c, plain(port), HttpRequest{});
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kIo);
  EXPECT_NE(r.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos);
  EXPECT_EQ(c->stats().attempts, 3u);
}

TEST_F(HttpClientTest, StalePooledConnectionIsReplacedTransparently) {
  TestServer::Options so;
  so.close_silently_after_response = true;
  TestServer srv(so, [](const Req&) { return text(200, "x"); });
  HttpClientOptions o;
  o.max_attempts = 1;  // the stale retry must not need a normal retry
  auto c = client(o);
  ASSERT_TRUE(call(*c, plain(srv.port()), HttpRequest{}).isOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto r = call(*c, plain(srv.port()), HttpRequest{});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(srv.connections.load(), 2);
}

TEST_F(HttpClientTest, ResponseBodyBound) {
  TestServer srv({}, [](const Req&) { return text(200, std::string(5000, 'x')); });
  HttpClientOptions o;
  o.max_response_bytes = 1000;
  auto c = client(o);
  auto r = call(*c, plain(srv.port()), HttpRequest{});
  ASSERT_FALSE(r.isOk()) << r->status;
  EXPECT_EQ(r.status().code(), Code::kTooLarge);
}

TEST_F(HttpClientTest, MutualTlsWithClientCertificate) {
  std::string d = makeCerts();
  TestServer::Options so;
  so.cert_dir = d;
  so.require_client_cert = true;
  TestServer srv(so, [](const Req&) { return text(200, "secure"); });
  auto ep = *Endpoint::parse("https://localhost:" + std::to_string(srv.port()));
  TlsOptions t{d + "/group-ca.pem", d + "/CoreThing.pem", d + "/CoreThing.key", true};
  auto c = client({}, t);
  auto r = call(*c, ep, HttpRequest{});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->body, "secure");

  // Without a client certificate the server refuses the handshake.
  HttpClientOptions once;
  once.max_attempts = 1;
  auto anon = client(once, TlsOptions{d + "/group-ca.pem", "", "", true});
  r = call(*anon, ep, HttpRequest{});
  EXPECT_FALSE(r.isOk());
}

TEST_F(HttpClientTest, ServerNotSignedByTheTrustedCaIsRefused) {
  std::string d = makeCerts();
  TestServer::Options so;
  so.cert_dir = d;
  TestServer srv(so, [](const Req&) { return text(200, "x"); });
  // Another CA as trust anchor.
  std::string other = dir_ + "/other";
  std::filesystem::create_directories(other);
  ASSERT_TRUE(certs::ensureGroupCa(other).isOk());
  HttpClientOptions once;
  once.max_attempts = 1;
  auto c = client(once, TlsOptions{other + "/group-ca.pem", "", "", true});
  auto r = call(*c, *Endpoint::parse("https://localhost:" + std::to_string(srv.port())), {});
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), Code::kIo);
  EXPECT_NE(r.status().message().find("TLS handshake"), std::string::npos);
  EXPECT_FALSE(
      HttpClient::create(io_, {}, TlsOptions{dir_ + "/missing.pem", "", "", true}, Log()).isOk());
}

class FixedCredentials : public CredentialsSource {
 public:
  Result<Credentials> currentCredentials() override {
    if (fail) return Status::busy("no credentials yet");
    return creds;
  }
  Credentials creds{"AKIDTEST", "secret/key", "session-token"};
  bool fail = false;
};

TEST_F(HttpClientTest, AwsClientSignsEveryAttemptVerifiedByTheServer) {
  FixedCredentials creds;
  std::atomic<int> n{0};
  std::vector<std::string> keys;
  std::mutex mu;
  TestServer srv({}, [&](const Req& req) {
    // Re-verify like AWS: rebuild the request, recompute the signature with the secret.
    std::string auth;
    SignableRequest s = signableFrom(req, &auth);
    SigningOptions o;
    o.region = "eu-west-1";
    o.service = "kinesis";
    Signature sig = computeSignature(s, Credentials{"AKIDTEST", "secret/key", ""}, o);
    {
      std::lock_guard<std::mutex> l(mu);
      keys.push_back(auth.substr(0, 40));
    }
    if (auth != sig.authorization) return text(403, "SignatureDoesNotMatch");
    if (req["X-Amz-Security-Token"] != "session-token") return text(403, "no token");
    if (n++ == 0) return text(500, "retry me");
    return text(200, "signed ok");
  });
  auto c = client(HttpClientOptions{.retry_base_ms = 1});
  ServiceConfig sc{"kinesis", "eu-west-1", plain(srv.port()), false};
  AwsClient aws(*c, creds, sc);
  std::optional<Result<HttpResponse>> out;
  HttpRequest req;
  req.method = "POST";
  req.target = "/";
  req.headers = {{"X-Amz-Target", "Kinesis_20131202.PutRecord"},
                 {"Content-Type", "application/x-amz-json-1.1"}};
  req.body = R"({"StreamName":"s","Data":"aGk=","PartitionKey":"k"})";
  aws.call(req, [&](Result<HttpResponse> r) { out = std::move(r); });
  for (int i = 0; i < 500 && !out; ++i) {
    io_.run_for(std::chrono::milliseconds(10));
    io_.restart();
  }
  ASSERT_TRUE(out && out->isOk());
  EXPECT_EQ((*out)->status, 200) << (*out)->body;
  EXPECT_EQ((*out)->body, "signed ok");
  EXPECT_EQ(n.load(), 2);

  creds.fail = true;
  out.reset();
  aws.call(req, [&](Result<HttpResponse> r) { out = std::move(r); });
  for (int i = 0; i < 100 && !out; ++i) {
    io_.run_for(std::chrono::milliseconds(10));
    io_.restart();
  }
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status().code(), Code::kBusy);
}

TEST_F(HttpClientTest, ShutdownAbandonsRequestsWithoutCallbacks) {
  TestServer::Options so;
  so.never_answer = true;
  TestServer srv(so, nullptr);
  auto c = client();
  bool called = false;
  c->send(plain(srv.port()), HttpRequest{}, [&](Result<HttpResponse>) { called = true; });
  io_.run_for(std::chrono::milliseconds(50));
  c->shutdown();
  io_.restart();
  io_.run_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace evg::aws
