// Token exchange: sans-I/O parsing/formatting/refresh policy, and CredentialProvider against a
// mutual-TLS fake AWS IoT credentials provider (aws/test_server.h) that requires the client
// certificate and checks the thing-name header: single-flight fetches, refresh of short-lived
// credentials, serving still-valid credentials through failures, recovery, waiting E9s.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>

#include "aws/test_server.h"
#include "certs/certs.h"
#include "tes/credential_provider.h"
#include "tes/credentials.h"

namespace evg::tes {
namespace {

using json = nlohmann::json;
using aws::testsupport::Req;
using aws::testsupport::Res;
using aws::testsupport::TestServer;
using aws::testsupport::text;

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(TesCredentials, ParseProviderAnswerAndFormatForSdks) {
  auto c = parseProviderResponse(
      R"({"credentials":{"accessKeyId":"ASIA1","secretAccessKey":"s3cr3t","sessionToken":"tok",)"
      R"("expiration":"2026-12-04T18:15:50Z"}})");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->creds.access_key_id, "ASIA1");
  EXPECT_EQ(c->creds.secret_access_key, "s3cr3t");
  EXPECT_EQ(c->creds.session_token, "tok");
  EXPECT_EQ(iso8601(c->expiration_ms), "2026-12-04T18:15:50Z");
  json j = json::parse(containerCredentialsJson(*c));
  EXPECT_EQ(j, json::parse(R"({"AccessKeyId":"ASIA1","SecretAccessKey":"s3cr3t","Token":"tok",)"
                           R"("Expiration":"2026-12-04T18:15:50Z"})"));
  auto bad =
      parseProviderResponse(R"({"credentials":{"accessKeyId":"A","secretAccessKey":"SECRET"}})");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("sessionToken"), std::string::npos);
  EXPECT_EQ(bad.status().message().find("SECRET"), std::string::npos);
  EXPECT_FALSE(parseProviderResponse("not json").isOk());
  EXPECT_FALSE(parseProviderResponse(R"({"message":"Access Denied"})").isOk());
}

TEST(TesCredentials, Iso8601) {
  EXPECT_EQ(*parseIso8601Ms("1970-01-01T00:00:01Z"), 1000);
  EXPECT_EQ(*parseIso8601Ms("1970-01-01T00:00:01.250Z"), 1250);
  EXPECT_EQ(*parseIso8601Ms("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_FALSE(parseIso8601Ms("yesterday").isOk());
  EXPECT_FALSE(parseIso8601Ms("2026-13-01T00:00:00Z").isOk());
}

TEST(TesCredentials, RefreshPolicy) {
  const int64_t m = 15 * 60000;
  // 1 h credentials, 15 min margin: 45 min after the fetch.
  EXPECT_EQ(refreshAtMs(0, 3600000, m), 2700000);
  // >= 5 minutes before expiry with the smallest margin allowed.
  EXPECT_EQ(refreshAtMs(0, 3600000, 300000), 3300000);
  // Short-lived (15 min with a 15 min margin; 20 s test credentials): half-life.
  EXPECT_EQ(refreshAtMs(0, 900000, m), 450000);
  EXPECT_EQ(refreshAtMs(1000, 21000, m), 11000);
  EXPECT_EQ(refreshAtMs(5000, 4000, m), 5000);  // already expired: now
}

// The fake AWS IoT credentials provider.
struct FakeProvider {
  std::mutex mu;
  int served = 0;
  int fail_next = 0;  // answer 500 to this many requests
  int64_t lifetime_ms = 60000;
  std::vector<std::string> paths, things;

  Res handle(const Req& r) {
    std::lock_guard<std::mutex> l(mu);
    paths.emplace_back(r.target());
    things.emplace_back(r["x-amzn-iot-thingname"]);
    if (r["x-amzn-iot-thingname"] != "CoreThing")
      return text(403, R"({"message":"Access Denied"})");
    if (fail_next > 0) {
      --fail_next;
      return text(500, R"({"message":"Internal"})");
    }
    ++served;
    json j = {{"credentials",
               {{"accessKeyId", "AK" + std::to_string(served)},
                {"secretAccessKey", "SK" + std::to_string(served)},
                {"sessionToken", "TOKEN" + std::to_string(served)},
                {"expiration", iso8601(nowMs() + lifetime_ms)}}}};
    return text(200, j.dump());
  }
};

class ProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/evg_tes_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(certs::ensureGroupCa(dir_).isOk());
    ASSERT_TRUE(certs::ensureServerCert(dir_, {}, {}).isOk());
    ASSERT_TRUE(certs::issueDeviceCert(dir_, "CoreThing", dir_).isOk());
    TestServer::Options so;
    so.cert_dir = dir_;
    so.require_client_cert = true;
    server_ = std::make_unique<TestServer>(so, [this](const Req& r) { return fake_.handle(r); });
  }
  void TearDown() override {
    provider_.reset();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  ProviderOptions options(std::string thing = "CoreThing") {
    ProviderOptions o;
    o.endpoint = *aws::Endpoint::parse("https://localhost:" + std::to_string(server_->port()));
    o.role_alias = "TokenExchangeRoleAlias";
    o.thing_name = std::move(thing);
    o.tls = {dir_ + "/group-ca.pem", dir_ + "/CoreThing.pem", dir_ + "/CoreThing.key", true};
    o.retry_initial_ms = 50;
    o.retry_max_ms = 200;
    o.serve_wait_ms = 2000;
    return o;
  }
  void makeProvider(ProviderOptions o) {
    auto p = CredentialProvider::create(io_, std::move(o), Log());
    ASSERT_TRUE(p.isOk()) << p.status().toString();
    provider_ = std::move(p).value();
  }
  void runUntil(const std::function<bool()>& pred, int ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(5));
      io_.restart();
    }
  }
  void runFor(int ms) {
    runUntil([] { return false; }, ms);
  }
  // One E9 call; returns the answer once it arrives.
  ipc::HttpResponse e9() {
    std::optional<ipc::HttpResponse> out;
    provider_->credentials("arn:fn", [&](ipc::HttpResponse r) { out = std::move(r); });
    runUntil([&] { return out.has_value(); });
    EXPECT_TRUE(out.has_value());
    return out.value_or(ipc::HttpResponse{});
  }

  boost::asio::io_context io_;
  std::string dir_;
  FakeProvider fake_;
  std::unique_ptr<TestServer> server_;
  std::unique_ptr<CredentialProvider> provider_;
};

TEST_F(ProviderTest, ConcurrentCallersBeforeTheFirstFetchShareOneFetch) {
  makeProvider(options());
  provider_->start();
  std::vector<ipc::HttpResponse> answers;
  for (int i = 0; i < 20; ++i) {
    provider_->credentials("arn:fn", [&](ipc::HttpResponse r) { answers.push_back(std::move(r)); });
  }
  runUntil([&] { return answers.size() == 20; });
  ASSERT_EQ(answers.size(), 20u);
  for (const auto& a : answers) {
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(json::parse(a.body)["AccessKeyId"], "AK1");
  }
  EXPECT_EQ(provider_->stats().fetches, 1u);
  EXPECT_EQ(provider_->stats().waited, 20u);
  // From the cache, synchronously, no new fetch.
  bool sync = false;
  provider_->credentials("arn:fn", [&](ipc::HttpResponse r) { sync = r.status == 200; });
  EXPECT_TRUE(sync);
  EXPECT_EQ(provider_->stats().fetches, 1u);
  std::lock_guard<std::mutex> l(fake_.mu);
  EXPECT_EQ(fake_.paths[0], "/role-aliases/TokenExchangeRoleAlias/credentials");
  EXPECT_EQ(fake_.things[0], "CoreThing");
  auto c = provider_->currentCredentials();
  ASSERT_TRUE(c.isOk());
  EXPECT_EQ(c->session_token, "TOKEN1");
}

TEST_F(ProviderTest, ShortLivedCredentialsAreRefreshedAtHalfLife) {
  fake_.lifetime_ms = 2000;  // refresh every ~1 s
  makeProvider(options());
  provider_->start();
  runUntil([&] {
    return provider_->stats().fetches >= 1 && provider_->stats().state == ProviderState::kOk;
  });
  EXPECT_EQ(json::parse(e9().body)["AccessKeyId"], "AK1");
  runUntil([&] { return provider_->stats().fetches >= 3; }, 4000);
  EXPECT_GE(provider_->stats().fetches, 3u);
  EXPECT_LE(provider_->stats().fetches, 4u);  // ~1 per second, never a burst
  EXPECT_NE(json::parse(e9().body)["AccessKeyId"], "AK1");
}

TEST_F(ProviderTest, FailuresKeepServingValidCredentialsThenRecover) {
  fake_.lifetime_ms = 3000;
  makeProvider(options());
  provider_->start();
  runUntil([&] { return provider_->stats().state == ProviderState::kOk; });
  {
    std::lock_guard<std::mutex> l(fake_.mu);
    fake_.fail_next = 3;
  }
  // The half-life refresh (1.5 s) fails three times (backoff 50..200 ms); the cached AK1 is
  // still valid meanwhile and served.
  runUntil([&] { return provider_->stats().fetch_failures >= 1; }, 4000);
  EXPECT_EQ(provider_->stats().state, ProviderState::kFailing);
  EXPECT_NE(provider_->stats().last_error.find("HTTP 500"), std::string::npos);
  auto a = e9();
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(json::parse(a.body)["AccessKeyId"], "AK1");
  runUntil([&] { return provider_->stats().state == ProviderState::kOk; }, 4000);
  EXPECT_EQ(provider_->stats().fetch_failures, 3u);
  EXPECT_EQ(json::parse(e9().body)["AccessKeyId"], "AK2");
}

TEST_F(ProviderTest, ProviderRefusingTheThingIsReportedAndFunctionsGetA503) {
  auto o = options("SomeOtherThing");
  o.serve_wait_ms = 100;
  makeProvider(o);
  provider_->start();
  runUntil([&] { return provider_->stats().fetch_failures >= 1; });
  EXPECT_NE(provider_->stats().last_error.find("HTTP 403"), std::string::npos);
  auto a = e9();
  EXPECT_EQ(a.status, 503);
  EXPECT_NE(a.body.find("Access Denied"), std::string::npos) << a.body;
  EXPECT_FALSE(provider_->currentCredentials().isOk());
  EXPECT_GE(provider_->stats().unavailable, 1u);
}

TEST_F(ProviderTest, ProviderDownAtStartFailsWith503NamingTheEndpoint) {
  // No server on this port at first.
  uint16_t port;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(
        io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  auto o = options();
  o.endpoint = *aws::Endpoint::parse("https://localhost:" + std::to_string(port));
  o.serve_wait_ms = 0;
  makeProvider(o);
  provider_->start();
  runUntil([&] { return provider_->stats().fetch_failures >= 2; });
  auto a = e9();
  EXPECT_EQ(a.status, 503);
  EXPECT_NE(a.body.find("localhost:" + std::to_string(port)), std::string::npos) << a.body;
  EXPECT_EQ(provider_->stats().state, ProviderState::kFailing);
}

TEST_F(ProviderTest, MissingCertificateIsAClearStartError) {
  auto o = options();
  o.tls.cert_path = dir_ + "/nope.pem";
  auto p = CredentialProvider::create(io_, o, Log());
  ASSERT_FALSE(p.isOk());
  EXPECT_NE(p.status().message().find("nope.pem"), std::string::npos);
  o.tls.cert_path.clear();
  EXPECT_FALSE(CredentialProvider::create(io_, o, Log()).isOk());
}

TEST(UnavailableSource, AnswersAClearErrorAndLogsOnce) {
  LogOptions lo;
  lo.to_stderr = false;
  Logger logger(lo);
  UnavailableCredentialSource src("token exchange is not configured: set evergreen.tes",
                                  Log(&logger, "GGTES"));
  int n = 0;
  for (int i = 0; i < 3; ++i) {
    src.credentials("arn:fn", [&](ipc::HttpResponse r) {
      EXPECT_EQ(r.status, 503);
      EXPECT_NE(r.body.find("evergreen.tes"), std::string::npos);
      ++n;
    });
  }
  EXPECT_EQ(n, 3);
  EXPECT_EQ(src.refused(), 3u);
}

}  // namespace
}  // namespace evg::tes
