#include "streammgr/export/export_manager.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "aws/test_server.h"
#include "base/json.h"
#include "streammgr/export/fake_stream_access.h"

namespace evg::streammgr::exporter {
namespace {

using aws::testsupport::Req;
using aws::testsupport::Res;
using aws::testsupport::TestServer;
using aws::testsupport::text;
using nlohmann::json;
using testsupport::FakeStreamAccess;

class FixedCredentials : public aws::CredentialsSource {
 public:
  Result<aws::Credentials> currentCredentials() override { return creds; }
  aws::Credentials creds{"AKIDTEST", "secret/key", "session-token"};
};

// Recomputes the request's SigV4 signature like AWS would; "" when valid, else why not.
std::string verifySigV4(const Req& req, const std::string& service) {
  std::string auth;
  aws::SignableRequest s = aws::testsupport::signableFrom(req, &auth);
  aws::SigningOptions o;
  o.region = "eu-west-1";
  o.service = service;
  o.s3 = service == "s3";
  if (o.s3 && req["x-amz-content-sha256"] != aws::sha256Hex(req.body())) {
    return "x-amz-content-sha256 does not match the body";
  }
  auto sig = aws::computeSignature(s, aws::Credentials{"AKIDTEST", "secret/key", ""}, o);
  if (auth != sig.authorization) return "signature mismatch: " + auth;
  if (req["X-Amz-Security-Token"] != "session-token") return "no session token";
  return "";
}

Res jsonRes(int status, const json& j) { return text(status, j.dump()); }

class ExportManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    aws::HttpClientOptions ho;
    ho.max_attempts = 1;
    ho.request_timeout_ms = 3000;
    ho.connect_timeout_ms = 1000;
    http_ = std::move(aws::HttpClient::create(io_, ho, {}, Log()).value());
  }
  void TearDown() override { done(); }
  // Stops the manager, closes the client's connections (the one-connection test server waits on
  // them), then stops the server: call at the end of a test body, before its locals go.
  void done() {
    mgr_.reset();
    if (http_) http_->shutdown();
    srv_.reset();
  }
  TestServer& serve(TestServer::Handler h) {
    srv_ = std::make_unique<TestServer>(TestServer::Options{}, std::move(h));
    return *srv_;
  }
  void start(uint16_t port, ExportOptions o = {}) {
    std::string url = "http://127.0.0.1:" + std::to_string(port);
    o.region = "eu-west-1";
    o.endpoints = {{"kinesis", url}, {"iotanalytics", url}, {"iotsitewise", url}, {"s3", url}};
    if (o.retryInitialMs == 1000) o.retryInitialMs = 20;
    if (o.retryMaxMs == 60000) o.retryMaxMs = 100;
    // The test server serves one connection at a time: one request in flight (unless the test
    // sets its own bound and servers).
    if (o.maxInFlight == ExportOptions{}.maxInFlight) o.maxInFlight = 1;
    auto m = ExportManager::create(io_, store_, *http_, creds_, o, Log());
    ASSERT_TRUE(m) << m.status().toString();
    mgr_ = std::move(*m);
  }
  template <class P>
  bool runUntil(P pred, int timeoutMs = 10000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    while (!pred() && std::chrono::steady_clock::now() < end) {
      io_.run_for(std::chrono::milliseconds(5));
      io_.restart();
    }
    return pred();
  }
  void runFor(int ms) {
    io_.run_for(std::chrono::milliseconds(ms));
    io_.restart();
  }
  ExportStatus status(const std::string& stream, size_t i = 0) {
    auto s = mgr_->statuses(stream);
    return i < s.size() ? s[i] : ExportStatus{};
  }

  boost::asio::io_context io_;
  std::unique_ptr<TestServer> srv_;
  std::unique_ptr<aws::HttpClient> http_;
  FixedCredentials creds_;
  FakeStreamAccess store_;
  std::unique_ptr<ExportManager> mgr_;
  std::mutex mu_;
};

std::string b64decode(const std::string& s) {
  static const std::string chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : s) {
    if (c == '=') break;
    val = (val << 6) + static_cast<int>(chars.find(c));
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

TEST_F(ExportManagerTest, KinesisRetriesOnlyFailedRecordsAndCommitsTheAcceptedPrefix) {
  std::vector<std::vector<std::string>> requests;  // record payloads per request
  std::set<std::string> failedOnce;
  std::vector<std::string> accepted;
  std::string badSig;
  auto& srv = serve([&](const Req& req) {
    std::lock_guard<std::mutex> l(mu_);
    std::string why = verifySigV4(req, "kinesis");
    if (!why.empty()) badSig = why;
    if (req["X-Amz-Target"] != "Kinesis_20131202.PutRecords") return text(400, "bad target");
    auto j = json::parse(req.body());
    EXPECT_EQ(j["StreamName"], "ks");
    std::vector<std::string> got;
    json recs = json::array();
    int failed = 0;
    for (auto& r : j["Records"]) {
      std::string p = b64decode(r["Data"].get<std::string>());
      EXPECT_EQ(r["PartitionKey"].get<std::string>().size(), 36u);
      got.push_back(p);
      int n = std::stoi(p.substr(2));
      if (n % 7 == 3 && failedOnce.insert(p).second) {
        recs.push_back({{"ErrorCode", "ProvisionedThroughputExceededException"},
                        {"ErrorMessage", "Rate exceeded"}});
        ++failed;
      } else {
        accepted.push_back(p);
        recs.push_back({{"SequenceNumber", "1"}, {"ShardId", "shardId-0"}});
      }
    }
    requests.push_back(got);
    return jsonRes(200, {{"FailedRecordCount", failed}, {"Records", recs}});
  });
  for (int i = 0; i < 1200; ++i) store_.add("s", "m-" + std::to_string(i));
  start(srv.port());
  ASSERT_TRUE(
      mgr_->configure(
              "s",
              json::parse(
                  R"({"kinesis":[{"identifier":"k","kinesisStreamName":"ks","batchSize":500}]})"))
          .isOk());
  ASSERT_TRUE(runUntil([&] { return store_.progress["s/k"] == 1200; }));
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(badSig, "");
  // First request: the first 500 messages in order; retries carry only the failed records.
  ASSERT_GE(requests.size(), 3u);
  ASSERT_EQ(requests[0].size(), 500u);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(requests[0][i], "m-" + std::to_string(i));
  EXPECT_EQ(requests[1].size(), 71u);  // n%7==3 below 500
  for (const auto& p : requests[1]) EXPECT_EQ(std::stoi(p.substr(2)) % 7, 3);
  std::set<std::string> all(accepted.begin(), accepted.end());
  EXPECT_EQ(all.size(), 1200u);
  EXPECT_EQ(accepted.size(), 1200u);  // each accepted exactly once here
  auto st = status("s");
  EXPECT_EQ(st.exportConfigIdentifier, "k");
  EXPECT_EQ(st.lastExportedSequenceNumber, 1199);
  EXPECT_EQ(st.exportedMessagesCount, 1200);
  EXPECT_GT(st.lastExportTimeMs, 0);
  EXPECT_EQ(st.errorMessage, "");
  int64_t bytes = 0;
  for (const auto& m : store_.messages("s")) bytes += static_cast<int64_t>(m.payload.size());
  EXPECT_EQ(st.exportedBytesFromStream, bytes);
}

TEST_F(ExportManagerTest, ServiceDownThenUpLosesNothingAndReportsTheError) {
  int n = 0;
  std::vector<std::string> accepted;
  auto& srv = serve([&](const Req& req) {
    std::lock_guard<std::mutex> l(mu_);
    if (n++ < 4) return text(503, "Service Unavailable");
    auto j = json::parse(req.body());
    json recs = json::array();
    for (auto& r : j["Records"]) {
      accepted.push_back(b64decode(r["Data"].get<std::string>()));
      recs.push_back({{"SequenceNumber", "1"}});
    }
    return jsonRes(200, {{"FailedRecordCount", 0}, {"Records", recs}});
  });
  for (int i = 0; i < 30; ++i) store_.add("s", "m-" + std::to_string(i));
  start(srv.port());
  ASSERT_TRUE(
      mgr_->configure(
              "s",
              json::parse(
                  R"({"kinesis":[{"identifier":"k","kinesisStreamName":"ks","batchSize":10}]})"))
          .isOk());
  ASSERT_TRUE(runUntil([&] { return !status("s").errorMessage.empty(); }));
  EXPECT_EQ(status("s").errorMessage, "HTTP 503: Service Unavailable");
  EXPECT_EQ(status("s").lastExportedSequenceNumber, -1);
  for (int i = 30; i < 40; ++i) {
    int64_t seq = store_.add("s", "m-" + std::to_string(i));
    mgr_->onAppended("s", seq);
  }
  ASSERT_TRUE(runUntil([&] { return store_.progress["s/k"] == 40; }));
  std::lock_guard<std::mutex> l(mu_);
  ASSERT_EQ(accepted.size(), 40u);
  for (int i = 0; i < 40; ++i) EXPECT_EQ(accepted[i], "m-" + std::to_string(i));
  EXPECT_EQ(status("s").errorMessage, "");
  EXPECT_EQ(status("s").exportedMessagesCount, 40);
}

TEST_F(ExportManagerTest, ResumesFromSavedProgressElseStartSequenceNumber) {
  std::vector<std::string> got;
  auto& srv = serve([&](const Req& req) {
    std::lock_guard<std::mutex> l(mu_);
    auto j = json::parse(req.body());
    json recs = json::array();
    for (auto& r : j["Records"]) {
      got.push_back(b64decode(r["Data"].get<std::string>()));
      recs.push_back({{"SequenceNumber", "1"}});
    }
    return jsonRes(200, {{"FailedRecordCount", 0}, {"Records", recs}});
  });
  for (int i = 0; i < 100; ++i) store_.add("s", "m-" + std::to_string(i));
  store_.progress["s/saved"] = 90;
  start(srv.port());
  ASSERT_TRUE(mgr_->configure("s", json::parse(R"({"kinesis":[
      {"identifier":"saved","kinesisStreamName":"ks","startSequenceNumber":5},
      {"identifier":"fresh","kinesisStreamName":"ks","startSequenceNumber":95}]})"))
                  .isOk());
  EXPECT_EQ(status("s", 0).lastExportedSequenceNumber, 89);
  ASSERT_TRUE(runUntil(
      [&] { return store_.progress["s/saved"] == 100 && store_.progress["s/fresh"] == 100; }));
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(got.size(), 15u);
  std::multiset<std::string> s(got.begin(), got.end());
  EXPECT_EQ(s.count("m-89"), 0u);
  EXPECT_EQ(s.count("m-90"), 1u);
  EXPECT_EQ(s.count("m-95"), 2u);
}

TEST_F(ExportManagerTest, IotAnalyticsRetriesErrorEntriesAndSitewiseSkipsBadPayloads) {
  std::vector<json> iota, sitewise;
  std::string badSig;
  bool failedOnce = false;
  auto& srv = serve([&](const Req& req) {
    std::lock_guard<std::mutex> l(mu_);
    auto j = json::parse(req.body());
    if (req.target() == "/messages/batch") {
      if (auto w = verifySigV4(req, "iotanalytics"); !w.empty()) badSig = w;
      iota.push_back(j);
      json errs = json::array();
      if (!failedOnce) {
        failedOnce = true;
        errs.push_back({{"messageId", "dev1-1"},
                        {"errorCode", "InternalFailureException"},
                        {"errorMessage", "try again"}});
      }
      return jsonRes(200, {{"batchPutMessageErrorEntries", errs}});
    }
    if (req.target() == "/properties") {
      if (auto w = verifySigV4(req, "iotsitewise"); !w.empty()) badSig = w;
      sitewise.push_back(j);
      return jsonRes(200, {{"errorEntries", json::array()}});
    }
    return text(404, "unknown");
  });
  for (int i = 0; i < 3; ++i) store_.add("a", "{\"t\":" + std::to_string(i) + "}");
  auto entry = [](const std::string& id, double v) {
    return json{{"entryId", id},
                {"propertyAlias", "/plant/temp"},
                {"propertyValues",
                 {{{"value", {{"doubleValue", v}}},
                   {"timestamp", {{"timeInSeconds", 1700000000}, {"offsetInNanos", 0}}},
                   {"quality", "GOOD"}}}}}
        .dump();
  };
  store_.add("w", entry("e0", 1.0));
  store_.add("w", "this is not JSON");
  store_.add("w", entry("e2", 2.0));
  store_.add("w", entry("e0", 3.0));  // a repeated entryId goes in the next request
  start(srv.port());
  ASSERT_TRUE(mgr_->configure("a", json::parse(R"({"iotAnalytics":[
      {"identifier":"ia","iotChannel":"chan","iotMsgIdPrefix":"dev1-"}]})"))
                  .isOk());
  ASSERT_TRUE(mgr_->configure("w", json::parse(R"({"IotSitewise":[{"identifier":"sw"}]})")).isOk());
  ASSERT_TRUE(
      runUntil([&] { return store_.progress["a/ia"] == 3 && store_.progress["w/sw"] == 4; }));
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(badSig, "");
  ASSERT_EQ(iota.size(), 2u);
  EXPECT_EQ(iota[0]["channelName"], "chan");
  EXPECT_EQ(iota[0]["messages"].size(), 3u);
  EXPECT_EQ(iota[0]["messages"][2]["messageId"], "dev1-2");
  EXPECT_EQ(b64decode(iota[0]["messages"][2]["payload"]), "{\"t\":2}");
  ASSERT_EQ(iota[1]["messages"].size(), 1u);  // only the failed entry again
  EXPECT_EQ(iota[1]["messages"][0]["messageId"], "dev1-1");
  ASSERT_EQ(sitewise.size(), 2u);
  ASSERT_EQ(sitewise[0]["entries"].size(), 2u);
  ASSERT_EQ(sitewise[1]["entries"].size(), 1u);
  EXPECT_EQ(sitewise[1]["entries"][0]["propertyValues"][0]["value"]["doubleValue"], 3.0);
  EXPECT_EQ(sitewise[0]["entries"][0]["entryId"], "e0");
  EXPECT_EQ(sitewise[0]["entries"][1]["entryId"], "e2");
  EXPECT_EQ(sitewise[0]["entries"][1]["propertyValues"][0]["value"]["doubleValue"], 2.0);
  auto st = status("w");
  EXPECT_EQ(st.exportedMessagesCount, 3);
  EXPECT_EQ(st.lastExportedSequenceNumber, 3);
  EXPECT_NE(st.errorMessage.find("message 1 skipped: not a PutAssetPropertyValueEntry"),
            std::string::npos)
      << st.errorMessage;
  EXPECT_EQ(status("a").exportedMessagesCount, 3);
}

TEST_F(ExportManagerTest, HttpExporterRawAndJsonBatched) {
  std::vector<std::pair<std::string, std::string>> got;  // target, body
  auto& srv = serve([&](const Req& req) {
    std::lock_guard<std::mutex> l(mu_);
    got.emplace_back(std::string(req.target()), req.body());
    EXPECT_TRUE(req["Authorization"].empty());
    return text(200, "");
  });
  for (int i = 0; i < 3; ++i) store_.add("s", "p" + std::to_string(i));
  start(srv.port());
  std::string url = "http://127.0.0.1:" + std::to_string(srv.port());
  ASSERT_TRUE(
      mgr_->configure("s",
                      json{{"http",
                            {{{"identifier", "raw"}, {"uri", url + "/raw"}},
                             {{"identifier", "js"}, {"uri", url + "/js"}, {"exportFormat", 1}}}}})
          .isOk());
  ASSERT_TRUE(
      runUntil([&] { return store_.progress["s/raw"] == 3 && store_.progress["s/js"] == 3; }));
  std::lock_guard<std::mutex> l(mu_);
  std::vector<std::string> raw;
  int batched = 0;
  for (auto& [t, b] : got) {
    if (t == "/raw") raw.push_back(b);
    if (t == "/js") {
      ++batched;
      auto j = json::parse(b);
      ASSERT_EQ(j.size(), 3u);
      EXPECT_EQ(b64decode(j[2]["payload"]), "p2");
    }
  }
  EXPECT_EQ(raw, (std::vector<std::string>{"p0", "p1", "p2"}));
  EXPECT_EQ(batched, 1);
}

TEST_F(ExportManagerTest, S3TasksPutSmallFilesMultipartLargeOnesAndReportStatus) {
  std::map<std::string, std::string> objects;
  std::map<std::string, std::map<int, std::string>> parts;
  std::string badSig, meta;
  int uploads = 0;
  auto& srv = serve([&](const Req& req) {
    std::lock_guard<std::mutex> l(mu_);
    if (auto w = verifySigV4(req, "s3"); !w.empty()) badSig = w;
    auto [path, query] = aws::splitTarget(std::string(req.target()));
    if (req.method() == boost::beast::http::verb::put && query.empty()) {
      objects[path] = req.body();
      meta = std::string(req["x-amz-meta-owner"]);
      return text(200, "");
    }
    if (req.method() == boost::beast::http::verb::post && query == "uploads=") {
      ++uploads;
      return text(200,
                  "<InitiateMultipartUploadResult><UploadId>U1</UploadId>"
                  "</InitiateMultipartUploadResult>");
    }
    if (req.method() == boost::beast::http::verb::put) {
      int n = std::stoi(query.substr(query.find("partNumber=") + 11));
      parts[path][n] = req.body();
      auto r = text(200, "");
      r.set("ETag", "\"etag" + std::to_string(n) + "\"");
      return r;
    }
    if (req.method() == boost::beast::http::verb::post && query == "uploadId=U1") {
      std::string all;
      for (auto& [n, b] : parts[path]) all += b;
      EXPECT_NE(req.body().find("<ETag>\"etag2\"</ETag>"), std::string::npos);
      objects[path] = all;
      return text(200, "<CompleteMultipartUploadResult/>");
    }
    return text(400, "unexpected");
  });
  std::string dir = ::testing::TempDir() + "/s3task" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::string small(1000, 'a'), big;
  for (int i = 0; i < 21 * 256 * 1024; ++i) big.push_back(static_cast<char>('a' + i % 26));
  std::ofstream(dir + "/small.bin") << small;
  std::ofstream(dir + "/big.bin") << big;
  auto task = [&](const std::string& file, const std::string& key) {
    return json{{"inputUrl", "file://" + dir + "/" + file},
                {"bucket", "bkt"},
                {"key", key},
                {"userMetadata", {{"owner", "me"}}}}
        .dump();
  };
  store_.add("t", task("small.bin", "a/small.bin"));
  store_.add("t", task("missing.bin", "a/missing.bin"));
  store_.add("t", task("big.bin", "a/big.bin"));
  ExportOptions o;
  o.s3.minPartBytes = 512 * 1024;  // the test server reads bodies up to 1 MiB (S3: >= 5 MiB)
  start(srv.port(), o);
  ASSERT_TRUE(mgr_->configure("t", json::parse(R"({"s3TaskExecutor":[{"identifier":"s3",
      "statusConfig":{"statusLevel":2,"statusStreamName":"st"}}]})"))
                  .isOk());
  ASSERT_TRUE(runUntil([&] { return store_.progress["t/s3"] == 3; }, 20000))
      << store_.progress["t/s3"] << " " << status("t").errorMessage;
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(badSig, "");
  EXPECT_EQ(objects["/bkt/a/small.bin"], small);
  EXPECT_EQ(meta, "me");
  EXPECT_EQ(uploads, 1);
  EXPECT_EQ(parts["/bkt/a/big.bin"].size(), 11u);  // 10 x 512 KiB + 256 KiB
  EXPECT_TRUE(objects["/bkt/a/big.bin"] == big);
  std::vector<std::pair<int, int64_t>> statuses;  // (status, sequence number)
  for (const auto& m : store_.messages("st")) {
    auto j = json::parse(m.payload);
    statuses.emplace_back(j["status"].get<int>(),
                          j["statusContext"]["sequenceNumber"].get<int64_t>());
    EXPECT_EQ(j["statusContext"]["exportIdentifier"], "s3");
    EXPECT_EQ(j["statusContext"]["streamName"], "t");
    if (j["status"] == 1) {
      EXPECT_NE(j["message"].get<std::string>().find("missing.bin"), std::string::npos);
    }
  }
  // InProgress(2), Success(0) / Failure(1), per task in order.
  EXPECT_EQ(statuses,
            (std::vector<std::pair<int, int64_t>>{{2, 0}, {0, 0}, {2, 1}, {1, 1}, {2, 2}, {0, 2}}));
  EXPECT_EQ(status("t").exportedMessagesCount, 2);
}

TEST_F(ExportManagerTest, PriorityDisabledBatchIntervalAndBandwidth) {
  std::vector<std::string> order;  // stream name of each request, from the payloads
  auto& srv = serve([&](const Req& req) {
    std::lock_guard<std::mutex> l(mu_);
    auto j = json::parse(req.body());
    json recs = json::array();
    for (auto& r : j["Records"]) {
      order.push_back(b64decode(r["Data"].get<std::string>()).substr(0, 3));
      recs.push_back({{"SequenceNumber", "1"}});
    }
    return jsonRes(200, {{"FailedRecordCount", 0}, {"Records", recs}});
  });
  std::string kb(10000, 'x');
  for (int i = 0; i < 10; ++i) {
    store_.add("lo", "lo-" + kb);
    store_.add("hi", "hi-" + kb);
    store_.add("off", "off" + kb);
    store_.add("wait", "wai" + kb);
  }
  ExportOptions o;
  o.maxInFlight = 1;
  o.maxBandwidthBytesPerSec = 100000;
  start(srv.port(), o);
  auto def = [](const std::string& id, int prio, const std::string& extra) {
    return json::parse(R"({"kinesis":[{"identifier":")" + id +
                       R"(","kinesisStreamName":"ks","batchSize":2,"priority":)" +
                       std::to_string(prio) + extra + "}]}");
  };
  ASSERT_TRUE(mgr_->configure("lo", def("lo", 9, "")).isOk());
  ASSERT_TRUE(mgr_->configure("hi", def("hi", 1, "")).isOk());
  ASSERT_TRUE(mgr_->configure("off", def("off", 1, R"(,"disabled":true)")).isOk());
  ASSERT_TRUE(
      mgr_->configure("wait", def("wait", 1, R"(,"batchSize":500,"batchIntervalMillis":60000)"))
          .isOk());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      runUntil([&] { return store_.progress["lo/lo"] == 10 && store_.progress["hi/hi"] == 10; }));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // 200 KB at 100 KB/s; the first batch goes at once.
  EXPECT_GE(secs, 1.7);
  EXPECT_LE(secs, 5.0);
  std::lock_guard<std::mutex> l(mu_);
  ASSERT_EQ(order.size(), 20u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(order[i], "hi-") << i;
  for (int i = 10; i < 20; ++i) EXPECT_EQ(order[i], "lo-") << i;
  EXPECT_EQ(store_.progress.count("off/off"), 0u);
  EXPECT_EQ(store_.progress.count("wait/wait"), 0u);  // 10 < 500 and younger than 60 s
  EXPECT_EQ(mgr_->inFlight(), 0u);
}

TEST_F(ExportManagerTest, RequestsInFlightAreBoundedOverAllExporters) {
  std::atomic<int> now{0}, peak{0}, total{0};
  auto handler = [&](const Req&) {
    int n = ++now;
    int p = peak.load();
    while (n > p && !peak.compare_exchange_weak(p, n)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    --now;
    ++total;
    return text(200, "");
  };
  std::vector<std::unique_ptr<TestServer>> servers;
  json http = json::array();
  for (int i = 0; i < 4; ++i) {
    servers.push_back(std::make_unique<TestServer>(TestServer::Options{}, handler));
    http.push_back({{"identifier", "h" + std::to_string(i)},
                    {"uri", "http://127.0.0.1:" + std::to_string(servers.back()->port()) + "/"}});
  }
  for (int i = 0; i < 3; ++i) store_.add("s", "m" + std::to_string(i));
  ExportOptions o;
  o.maxInFlight = 2;
  start(servers[0]->port(), o);
  ASSERT_TRUE(mgr_->configure("s", json{{"http", http}}).isOk());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(runUntil([&] { return total.load() == 12; }));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(peak.load(), 2);
  EXPECT_GE(secs, 0.55);  // 12 requests of 100 ms, 2 at a time
  ASSERT_TRUE(runUntil([&] { return mgr_->inFlight() == 0; }));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(store_.progress["s/h" + std::to_string(i)], 3);
  done();
}

TEST_F(ExportManagerTest, BatchIntervalPassedSendsAPartialBatch) {
  int requests = 0;
  auto& srv = serve([&](const Req& req) {
    std::lock_guard<std::mutex> l(mu_);
    ++requests;
    auto j = json::parse(req.body());
    json recs = json::array();
    for (size_t i = 0; i < j["Records"].size(); ++i) recs.push_back({{"SequenceNumber", "1"}});
    return jsonRes(200, {{"FailedRecordCount", 0}, {"Records", recs}});
  });
  int64_t old = FakeStreamAccess::nowMs() - 61000;
  for (int i = 0; i < 5; ++i) store_.add("s", "m", old);
  start(srv.port());
  ASSERT_TRUE(mgr_->configure("s", json::parse(R"({"kinesis":[{"identifier":"k",
      "kinesisStreamName":"ks","batchSize":500,"batchIntervalMillis":60000}]})"))
                  .isOk());
  ASSERT_TRUE(runUntil([&] { return store_.progress["s/k"] == 5; }));
  EXPECT_EQ(requests, 1);
}

TEST_F(ExportManagerTest, ReconfigureKeepsProgressAndInvalidChangesNothing) {
  auto& srv = serve([&](const Req&) { return text(503, "down"); });
  store_.add("s", "m");
  start(srv.port());
  ASSERT_TRUE(
      mgr_->configure("s",
                      json::parse(R"({"kinesis":[{"identifier":"k","kinesisStreamName":"ks"}]})"))
          .isOk());
  auto bad = mgr_->configure(
      "s",
      json::parse(R"({"kinesis":[{"identifier":"k","kinesisStreamName":"ks","batchSize":0}]})"));
  EXPECT_EQ(bad.message(), "exportDefinition.kinesis[0].batchSize: 0 is below the minimum 1");
  EXPECT_EQ(mgr_->pipelines(), 1u);
  ASSERT_TRUE(mgr_->configure("s", json()).isOk());
  EXPECT_EQ(mgr_->pipelines(), 0u);
  EXPECT_TRUE(mgr_->statuses("s").empty());
  ASSERT_TRUE(
      mgr_->configure("s",
                      json::parse(R"({"kinesis":[{"identifier":"k","kinesisStreamName":"ks"}]})"))
          .isOk());
  mgr_->removeStream("s");
  EXPECT_EQ(mgr_->pipelines(), 0u);
  runFor(50);
}

}  // namespace
}  // namespace evg::streammgr::exporter
