#include "ipc/ipc_core.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "base/base64.h"

namespace evg::ipc {
namespace {

using json = nlohmann::json;

const std::string kA = "arn:aws:lambda:us-east-1:123456789012:function:A:1";
const std::string kB = "arn:aws:lambda:us-east-1:123456789012:function:B:1";

struct FakeListener : IpcListener {
  void onWorkQueued(const std::string& arn, size_t depth) override {
    queued.emplace_back(arn, depth);
  }
  void onWorkStarted(WorkerId w, const std::string& id, uint32_t timeout_ms) override {
    started.push_back({w, id, timeout_ms});
  }
  void onWorkFinished(WorkerId w, const std::string& id) override { finished.emplace_back(w, id); }
  void onWorkerWaiting(WorkerId w) override { waiting.push_back(w); }
  void onWorkerInitialized(WorkerId w, bool ok, const std::string& resp) override {
    inits.push_back({w, ok, resp});
  }
  Status onPublish(const std::string& source, const std::string& topic,
                   std::shared_ptr<const std::string> payload, std::string_view policy) override {
    publishes.push_back({source, topic, *payload, std::string(policy)});
    return publish_status;
  }
  struct Started {
    WorkerId w;
    std::string id;
    uint32_t timeout;
  };
  struct Init {
    WorkerId w;
    bool ok;
    std::string resp;
  };
  struct Pub {
    std::string source, topic, payload, policy;
  };
  std::vector<std::pair<std::string, size_t>> queued;
  std::vector<Started> started;
  std::vector<std::pair<WorkerId, std::string>> finished;
  std::vector<WorkerId> waiting;
  std::vector<Init> inits;
  std::vector<Pub> publishes;
  Status publish_status;
};

class IpcCoreTest : public ::testing::Test {
 protected:
  IpcCoreTest() : core_(makeOptions(), listener_, Log()) {
    core_.setResponder([this](ParkId p, HttpResponse r) { answers_[p] = std::move(r); });
    core_.addFunction({kA, 3000, 0});
    core_.addFunction({kB, 5000, 2});
    EXPECT_TRUE(core_.addWorker(1, kA, "tokA", 101).isOk());
    EXPECT_TRUE(core_.addWorker(2, kB, "tokB", 102).isOk());
  }
  static IpcOptions makeOptions() {
    IpcOptions o;
    o.max_retained_results = 4;
    o.max_work_bytes = 1000;
    o.now_ms = [] { return int64_t{1700000000000}; };
    return o;
  }
  HttpRequest req(std::string method, std::string path, std::string token, std::string body = {}) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    if (!token.empty()) r.headers["authorization"] = token;
    r.body = std::move(body);
    return r;
  }
  static std::string fn(const std::string& arn) { return "/2016-11-01/functions/" + arn; }
  HttpResponse now(const HttpRequest& r) {
    auto a = core_.handle(r, next_park_++);
    EXPECT_TRUE(a.has_value()) << r.method << " " << r.path << " parked unexpectedly";
    return a ? *a : HttpResponse{};
  }
  ParkId park(const HttpRequest& r) {
    ParkId p = next_park_++;
    auto a = core_.handle(r, p);
    EXPECT_FALSE(a.has_value()) << "expected to park, got " << (a ? a->status : 0) << " "
                                << (a ? a->body : "");
    return p;
  }
  std::string invoke(const std::string& target, const std::string& token, const std::string& body,
                     const std::string& type = "RequestResponse") {
    auto r = req("POST", fn(target), token, body);
    r.headers["x-amz-invocation-type"] = type;
    auto a = now(r);
    EXPECT_EQ(a.status, 202) << a.body;
    const std::string* id = a.header("X-Amz-InvocationId");
    return id ? *id : "";
  }
  HttpResponse postResult(const std::string& arn, const std::string& token, const std::string& id,
                          const std::string& body, const std::string& fe = "") {
    auto r = req("POST", fn(arn) + "/work", token, body);
    r.headers["x-amz-invocationid"] = id;
    if (!fe.empty()) r.headers["x-amz-function-error"] = fe;
    return now(r);
  }

  FakeListener listener_;
  IpcCore core_;
  std::map<ParkId, HttpResponse> answers_;
  ParkId next_park_ = 1;
};

TEST_F(IpcCoreTest, RequestResponseRoundTripWithE2HeaderAlwaysPresent) {
  ParkId poll = park(req("GET", fn(kB) + "/work", "tokB"));
  ASSERT_EQ(listener_.waiting.size(), 1u);
  auto r = req("POST", fn(kB), "tokA", "{\"x\":1}");
  r.headers["x-amz-client-context"] = "e30=";
  auto a = now(r);
  ASSERT_EQ(a.status, 202);
  std::string id = *a.header("X-Amz-InvocationId");
  EXPECT_EQ(id.size(), 36u);
  // The parked E3 got the work, with the client context passed through.
  ASSERT_EQ(answers_.count(poll), 1u);
  EXPECT_EQ(answers_[poll].status, 200);
  EXPECT_EQ(*answers_[poll].header("X-Amz-InvocationId"), id);
  EXPECT_EQ(*answers_[poll].header("X-Amz-Client-Context"), "e30=");
  EXPECT_EQ(answers_[poll].body, "{\"x\":1}");
  ASSERT_EQ(listener_.started.size(), 1u);
  EXPECT_EQ(listener_.started[0].timeout, 5000u);
  EXPECT_EQ(core_.worker(2)->state, WorkerState::kWorking);

  auto get = req("GET", fn(kB), "tokA");
  get.headers["x-amz-invocationid"] = id;
  ParkId waiter = park(get);
  EXPECT_EQ(postResult(kB, "tokB", id, "\"ok\"").status, 200);
  ASSERT_EQ(answers_.count(waiter), 1u);
  EXPECT_EQ(answers_[waiter].status, 200);
  const std::string* fe = answers_[waiter].header("X-Amz-Function-Error");
  ASSERT_NE(fe, nullptr) << "X-Amz-Function-Error must be present even on success";
  EXPECT_EQ(*fe, "");
  EXPECT_EQ(answers_[waiter].body, "\"ok\"");
  ASSERT_EQ(listener_.finished.size(), 1u);
  // The result is consumed.
  EXPECT_EQ(now(get).status, 404);
}

TEST_F(IpcCoreTest, ResultFetchedAfterCompletionAndHandledError) {
  std::string id = invoke(kB, "tokA", "1");
  auto w = now(req("GET", fn(kB) + "/work", "tokB"));  // work is already queued: answered inline
  ASSERT_EQ(w.status, 200);
  EXPECT_EQ(*w.header("X-Amz-InvocationId"), id);
  EXPECT_EQ(postResult(kB, "tokB", id, R"({"errorMessage":"boom"})", "Handled").status, 200);
  auto get = req("GET", fn(kB), "tokA");
  get.headers["x-amz-invocationid"] = id;
  auto a = now(get);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(*a.header("X-Amz-Function-Error"), "Handled");
  EXPECT_EQ(a.body, R"({"errorMessage":"boom"})");
  EXPECT_EQ(core_.stats()[1].handled_errors, 1u);
}

TEST_F(IpcCoreTest, TokenChecks) {
  auto a = now(req("POST", fn(kB), ""));
  EXPECT_EQ(a.status, 401);
  EXPECT_NE(a.body.find("Authorization"), std::string::npos);
  a = now(req("POST", fn(kB), "forged"));
  EXPECT_EQ(a.status, 403);
  EXPECT_NE(a.body.find("unknown"), std::string::npos);
  EXPECT_EQ(json::parse(a.body)["errorType"], "Forbidden");
  // Work of B cannot be pulled with A's token.
  a = now(req("GET", fn(kB) + "/work", "tokA"));
  EXPECT_EQ(a.status, 403);
  EXPECT_NE(a.body.find(kA), std::string::npos);
  // Nor can A post a result for B's invocation.
  std::string id = invoke(kB, "tokA", "1");
  ASSERT_EQ(now(req("GET", fn(kB) + "/work", "tokB")).status, 200);
  EXPECT_EQ(postResult(kB, "tokA", id, "x").status, 403);
  // A second worker of B cannot complete the first worker's invocation.
  ASSERT_TRUE(core_.addWorker(3, kB, "tokB2", 103).isOk());
  EXPECT_EQ(postResult(kB, "tokB2", id, "x").status, 403);
  // Only the invoker's function may fetch the result.
  auto get = req("GET", fn(kB), "tokB");
  get.headers["x-amz-invocationid"] = id;
  EXPECT_EQ(now(get).status, 403);
  EXPECT_FALSE(core_.addWorker(4, kB, "tokA", 104).isOk());  // tokens are unique
}

TEST_F(IpcCoreTest, FunctionForTokenServesOtherLocalServices) {
  EXPECT_EQ(core_.functionForToken("tokA"), std::optional<std::string>(kA));
  EXPECT_EQ(core_.functionForToken("tokB"), std::optional<std::string>(kB));
  EXPECT_FALSE(core_.functionForToken("nope"));
  EXPECT_FALSE(core_.functionForToken(""));
  core_.removeWorker(1, "stopped");
  EXPECT_FALSE(core_.functionForToken("tokA"));  // revoked with the worker
}

TEST_F(IpcCoreTest, QueueOverflowIs429AndCounted) {
  invoke(kB, "tokA", "1", "Event");
  invoke(kB, "tokA", "2", "Event");
  auto r = req("POST", fn(kB), "tokA", "3");
  r.headers["x-amz-invocation-type"] = "Event";
  auto a = now(r);
  EXPECT_EQ(a.status, 429);
  EXPECT_NE(a.body.find("full"), std::string::npos);
  EXPECT_EQ(core_.queueSpace(kB), 0u);
  auto st = core_.stats();
  EXPECT_EQ(st[1].arn, kB);
  EXPECT_EQ(st[1].dropped, 1u);
  EXPECT_EQ(st[1].queued, 2u);
  EXPECT_EQ(core_.submitEvent(kB, nullptr, "").status().code(), Code::kRetry);
  auto health = now(req("GET", "/2016-11-01/health/functions", ""));
  EXPECT_EQ(json::parse(health.body)[1]["Dropped"], 2);
  // Draining makes room again.
  ASSERT_EQ(now(req("GET", fn(kB) + "/work", "tokB")).status, 200);
  EXPECT_EQ(core_.queueSpace(kB), 1u);
  EXPECT_EQ(listener_.queued.back().first, kB);
}

TEST_F(IpcCoreTest, QueueByteBoundIs429NamingTheBound) {
  // Issue 11 item 6: queued Event invokes are bounded in bytes, not only in count.
  invoke(kA, "tokB", std::string(600, 'x'), "Event");
  auto r = req("POST", fn(kA), "tokB", std::string(600, 'y'));
  r.headers["x-amz-invocation-type"] = "Event";
  auto a = now(r);
  EXPECT_EQ(a.status, 429);
  EXPECT_NE(a.body.find("maxWorkQueueBytes"), std::string::npos) << a.body;
  auto st = core_.stats();
  EXPECT_EQ(st[0].arn, kA);
  EXPECT_EQ(st[0].dropped_bytes, 1u);
  EXPECT_EQ(st[0].queued_bytes, 600u);
  EXPECT_EQ(core_.queueSpace(kA), 1023u);  // 600 < 1000 bytes: room for a smaller one
  EXPECT_EQ(
      core_.submitEvent(kA, std::make_shared<const std::string>(400, 'z'), "").status().code(),
      Code::kOk);
  EXPECT_EQ(core_.queueSpace(kA), 0u);  // bytes exhausted
  // Draining frees the bytes.
  ASSERT_EQ(now(req("GET", fn(kA) + "/work", "tokA")).status, 200);
  EXPECT_EQ(core_.stats()[0].queued_bytes, 400u);
}

TEST_F(IpcCoreTest, RouterPublishUsesTokenFunctionAsSource) {
  std::string cc = base64Encode(
      R"({"custom":{"source":"arn:spoofed","subject":"t/1","queueFullPolicy":"AllOrError"}})");
  auto r = req("POST", fn(std::string(kRouterArn)), "tokA", "hello");
  r.headers["x-amz-client-context"] = cc;
  r.headers["x-amz-invocation-type"] = "Event";
  auto a = now(r);
  EXPECT_EQ(a.status, 202);
  ASSERT_NE(a.header("X-Amz-InvocationId"), nullptr);
  // A UUID version 4, as the genuine core's ids, and a new one each time.
  const std::regex uuid4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  EXPECT_TRUE(std::regex_match(*a.header("X-Amz-InvocationId"), uuid4))
      << *a.header("X-Amz-InvocationId");
  auto a2 = now(r);
  ASSERT_NE(a2.header("X-Amz-InvocationId"), nullptr);
  EXPECT_TRUE(std::regex_match(*a2.header("X-Amz-InvocationId"), uuid4));
  EXPECT_NE(*a2.header("X-Amz-InvocationId"), *a.header("X-Amz-InvocationId"));
  listener_.publishes.pop_back();
  ASSERT_EQ(listener_.publishes.size(), 1u);
  EXPECT_EQ(listener_.publishes[0].source, kA);
  EXPECT_EQ(listener_.publishes[0].topic, "t/1");
  EXPECT_EQ(listener_.publishes[0].payload, "hello");
  EXPECT_EQ(listener_.publishes[0].policy, "AllOrError");
  listener_.publish_status = Status::retry("a target queue is full");
  EXPECT_EQ(now(r).status, 429);
  r.headers["x-amz-client-context"] = base64Encode(R"({"custom":{}})");
  a = now(r);
  EXPECT_EQ(a.status, 400);
  EXPECT_NE(a.body.find("subject"), std::string::npos);
  r.headers["x-amz-client-context"] = "%%%";
  EXPECT_EQ(now(r).status, 400);
}

TEST_F(IpcCoreTest, RepeatedPublishContextsStayExactAcrossTheContextCache) {
  // The decoded-context cache must never change an answer: same context again, different ones,
  // bad ones in between, and more distinct contexts than the cache holds.
  auto r = req("POST", fn(std::string(kRouterArn)), "tokA", "p");
  r.headers["x-amz-invocation-type"] = "Event";
  auto ctx = [](const std::string& topic, const std::string& policy) {
    return base64Encode(R"({"custom":{"subject":")" + topic + R"(","queueFullPolicy":")" + policy +
                        R"("}})");
  };
  for (int round = 0; round < 2; ++round) {
    r.headers["x-amz-client-context"] = ctx("a/1", "BestEffort");
    EXPECT_EQ(now(r).status, 202);
    r.headers["x-amz-client-context"] = ctx("b/2", "AllOrError");
    EXPECT_EQ(now(r).status, 202);
    r.headers["x-amz-client-context"] = ctx("c/3", "Sometimes");  // bad policy: never cached
    auto bad = now(r);
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(bad.body.find("Sometimes"), std::string::npos) << bad.body;
  }
  ASSERT_EQ(listener_.publishes.size(), 4u);
  for (size_t i = 0; i < 4; i += 2) {
    EXPECT_EQ(listener_.publishes[i].topic, "a/1");
    EXPECT_EQ(listener_.publishes[i].policy, "BestEffort");
    EXPECT_EQ(listener_.publishes[i + 1].topic, "b/2");
    EXPECT_EQ(listener_.publishes[i + 1].policy, "AllOrError");
  }
  listener_.publishes.clear();
  for (int i = 0; i < 200; ++i) {  // past the cache bound (64): it is cleared and refilled
    r.headers["x-amz-client-context"] = ctx("t/" + std::to_string(i % 100), "");
    ASSERT_EQ(now(r).status, 202);
  }
  ASSERT_EQ(listener_.publishes.size(), 200u);
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(listener_.publishes[i].topic, "t/" + std::to_string(i % 100));
  }
}

TEST_F(IpcCoreTest, SystemServicesAnswerWellFormedErrors) {
  std::string id = invoke(std::string(kShadowArn), "tokA", "");
  auto get = req("GET", fn(std::string(kShadowArn)), "tokA");
  get.headers["x-amz-invocationid"] = id;
  auto a = now(get);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(*a.header("X-Amz-Function-Error"), "");
  auto j = json::parse(a.body);
  EXPECT_EQ(j["code"], 404);
  EXPECT_EQ(j["timestamp"], 1700000000000);
  EXPECT_TRUE(j["message"].is_string());

  id = invoke(std::string(kSecretsArn), "tokA", R"({"SecretId":"db"})");
  get = req("GET", fn(std::string(kSecretsArn)), "tokA");
  get.headers["x-amz-invocationid"] = id;
  a = now(get);
  EXPECT_EQ(*a.header("X-Amz-Function-Error"), "");
  j = json::parse(a.body);
  EXPECT_EQ(j["Status"], 404);
  EXPECT_NE(j["Message"].get<std::string>().find("db"), std::string::npos);

  // A SecretId that is not a string is a bad request (400), not an exception.
  for (const char* body : {R"({"SecretId":5})", R"([1])", "not json"}) {
    id = invoke(std::string(kSecretsArn), "tokA", body);
    get = req("GET", fn(std::string(kSecretsArn)), "tokA");
    get.headers["x-amz-invocationid"] = id;
    a = now(get);
    EXPECT_EQ(json::parse(a.body), (json{{"Status", 400}, {"Message", "SecretId is required"}}))
        << body;
  }
}

struct RecordingServices : SystemServices {
  std::string shadowInvoke(const std::string& caller, const std::string& subject,
                           const std::string& body) override {
    calls.push_back({"shadow", caller, subject, body});
    return R"({"state":{},"version":1})";
  }
  std::string secretInvoke(const std::string& caller, const std::string& body) override {
    calls.push_back({"secret", caller, "", body});
    return R"({"Status":401,"Message":"no"})";
  }
  struct Call {
    std::string service, caller, subject, body;
  };
  std::vector<Call> calls;
};

TEST_F(IpcCoreTest, SystemServicesSeamGetsCallerSubjectAndBody) {
  RecordingServices svc;
  core_.setSystemServices(&svc);
  auto r = req("POST", fn(std::string(kShadowArn)), "tokA", R"({"state":{}})");
  r.headers["x-amz-client-context"] =
      base64Encode(R"({"custom":{"subject":"$aws/things/t1/shadow/update"}})");
  auto a = now(r);
  ASSERT_EQ(a.status, 202);
  auto get = req("GET", fn(std::string(kShadowArn)), "tokA");
  get.headers["x-amz-invocationid"] = *a.header("X-Amz-InvocationId");
  auto g = now(get);
  EXPECT_EQ(*g.header("X-Amz-Function-Error"), "");
  EXPECT_EQ(g.body, R"({"state":{},"version":1})");
  ASSERT_EQ(svc.calls.size(), 1u);
  EXPECT_EQ(svc.calls[0].caller, kA);
  EXPECT_EQ(svc.calls[0].subject, "$aws/things/t1/shadow/update");
  EXPECT_EQ(svc.calls[0].body, R"({"state":{}})");

  std::string id = invoke(std::string(kSecretsArn), "tokB", R"({"SecretId":"db"})");
  get = req("GET", fn(std::string(kSecretsArn)), "tokB");
  get.headers["x-amz-invocationid"] = id;
  g = now(get);
  EXPECT_EQ(*g.header("X-Amz-Function-Error"), "");
  EXPECT_EQ(json::parse(g.body)["Status"], 401);
  ASSERT_EQ(svc.calls.size(), 2u);
  EXPECT_EQ(svc.calls[1].caller, kB);
  core_.setSystemServices(nullptr);
}

TEST_F(IpcCoreTest, TimeoutCompletesUnhandledAndRevokesWorker) {
  std::string id = invoke(kA, "tokB", "x");
  ASSERT_EQ(now(req("GET", fn(kA) + "/work", "tokA")).status, 200);
  std::string queued = invoke(kA, "tokB", "y");  // behind the stuck one
  auto get = req("GET", fn(kA), "tokB");
  get.headers["x-amz-invocationid"] = id;
  ParkId waiter = park(get);
  EXPECT_FALSE(core_.timeoutWork(1, "other-id"));
  EXPECT_TRUE(core_.timeoutWork(1, id));
  ASSERT_EQ(answers_.count(waiter), 1u);
  EXPECT_EQ(*answers_[waiter].header("X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(answers_[waiter].body.find("timed out after 3.00 seconds"), std::string::npos);
  EXPECT_EQ(core_.worker(1)->state, WorkerState::kTerminated);
  // The killed worker's token no longer works; the queued item waits for a replacement.
  EXPECT_EQ(postResult(kA, "tokA", id, "late").status, 403);
  core_.removeWorker(1, "killed after timeout");
  ASSERT_TRUE(core_.addWorker(5, kA, "tokA2", 105).isOk());
  auto w = now(req("GET", fn(kA) + "/work", "tokA2"));
  EXPECT_EQ(*w.header("X-Amz-InvocationId"), queued);
  EXPECT_EQ(core_.stats()[0].timeouts, 1u);
}

TEST_F(IpcCoreTest, WorkerCrashCompletesInFlightUnhandledAndAnswersParkedPoll) {
  std::string id = invoke(kA, "tokB", "x");
  ASSERT_EQ(now(req("GET", fn(kA) + "/work", "tokA")).status, 200);
  auto get = req("GET", fn(kA), "tokB");
  get.headers["x-amz-invocationid"] = id;
  ParkId waiter = park(get);
  core_.removeWorker(1, "worker exited with status 1");
  EXPECT_EQ(*answers_[waiter].header("X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(answers_[waiter].body.find("status 1"), std::string::npos);
  ParkId poll = park(req("GET", fn(kB) + "/work", "tokB"));
  core_.removeWorker(2, "idle");
  EXPECT_EQ(answers_[poll].status, 503);
  EXPECT_EQ(now(req("GET", fn(kB) + "/work", "tokB")).status, 403);
}

TEST_F(IpcCoreTest, CancelledPollIsNotAssignedWork) {
  ParkId poll = park(req("GET", fn(kA) + "/work", "tokA"));
  core_.cancel(poll);
  invoke(kA, "tokB", "x", "Event");
  EXPECT_EQ(answers_.count(poll), 0u);
  EXPECT_EQ(core_.stats()[0].queued, 1u);
  EXPECT_EQ(listener_.queued.size(), 1u);
}

TEST_F(IpcCoreTest, InitializedAndHealth) {
  auto a = now(req("PUT", fn(kA) + "/initialized", "tokA", R"({"Success":true,"Response":""})"));
  EXPECT_EQ(a.status, 200);
  ASSERT_EQ(listener_.inits.size(), 1u);
  EXPECT_TRUE(listener_.inits[0].ok);
  EXPECT_EQ(now(req("PUT", fn(kA) + "/initialized", "tokA", "nope")).status, 400);
  auto h = json::parse(now(req("GET", "/2016-11-01/health/workers", "")).body);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0]["FuncArn"], kA);
  EXPECT_EQ(h[0]["ProcessId"], 101);
  EXPECT_EQ(h[0]["WorkerState"], "Initialized");
  auto p = json::parse(now(req("POST", "/2016-11-01/health/workers", "",
                               R"({"FuncArns":[")" + kB + R"(","arn:nope"]})"))
                           .body);
  EXPECT_EQ(p["Workers"].size(), 1u);
  EXPECT_EQ(p["InvalidArns"][0], "arn:nope");
  EXPECT_EQ(now(req("POST", "/2016-11-01/health/workers", "", "{")).status, 400);
}

TEST_F(IpcCoreTest, BadRequestsAreClearErrors) {
  auto r = req("POST", fn(kB), "tokA");
  r.headers["x-amz-invocation-type"] = "DryRun";
  auto a = now(r);
  EXPECT_EQ(a.status, 400);
  EXPECT_NE(a.body.find("DryRun"), std::string::npos);
  a = now(req("POST", fn("arn:aws:lambda:us-east-1:1:function:Nope:1"), "tokA"));
  EXPECT_EQ(a.status, 404);
  EXPECT_NE(a.body.find("Nope"), std::string::npos);
  EXPECT_EQ(now(req("GET", "/other", "tokA")).status, 404);
  EXPECT_EQ(now(req("GET", fn(kB), "tokA")).status, 400);  // E2 without invocation id
  EXPECT_EQ(now(req("DELETE", fn(kB), "tokA")).status, 400);
}

// Found by fuzz/ipc_http_fuzz.cc: a path with invalid UTF-8 made the JSON error body throw
// (nlohmann type_error 316) and terminated the core. The answer must be a JSON error instead.
TEST_F(IpcCoreTest, InvalidUtf8InPathOrHeadersIsAnErrorAnswerNotACrash) {
  auto a = now(req("POST",
                   fn("arn:aws:lambda:us-east-1:1:function:\xff\xff\xff\xff"
                      "1"),
                   "tokA"));
  EXPECT_EQ(a.status, 404);
  auto j = nlohmann::json::parse(a.body);  // valid JSON (the bad bytes replaced)
  EXPECT_NE(j["errorMessage"].get<std::string>().find("function not found"), std::string::npos);
  auto inv = req("POST", fn(kB), "tokA");
  inv.headers["x-amz-invocation-type"] = "\xc3\x28";
  auto b = now(inv);
  EXPECT_EQ(b.status, 400);
  auto bj = nlohmann::json::parse(b.body, nullptr, false);
  EXPECT_FALSE(bj.is_discarded()) << b.body;
}

TEST_F(IpcCoreTest, UnfetchedResultsAreBounded) {
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(invoke(kA, "tokB", "x"));
    auto w = now(req("GET", fn(kA) + "/work", "tokA"));
    ASSERT_EQ(postResult(kA, "tokA", ids.back(), "r").status, 200);
  }
  auto get = req("GET", fn(kA), "tokB");
  get.headers["x-amz-invocationid"] = ids[0];
  EXPECT_EQ(now(get).status, 404);  // evicted (max_retained_results = 4)
  get.headers["x-amz-invocationid"] = ids[5];
  EXPECT_EQ(now(get).status, 200);
}

// E9 seam: a source that answers from a "cache" (sync) or holds the callbacks (async).
struct FakeCredentials : CredentialSource {
  void credentials(const std::string& caller, std::function<void(HttpResponse)> done) override {
    callers.push_back(caller);
    if (sync) {
      HttpResponse r;
      r.body = R"({"AccessKeyId":"AK"})";
      done(std::move(r));
    } else {
      held.push_back(std::move(done));
    }
  }
  bool sync = true;
  std::vector<std::string> callers;
  std::vector<std::function<void(HttpResponse)>> held;
};

TEST_F(IpcCoreTest, CredentialProviderE9TokenChecksAndAnswers) {
  const std::string path(kCredentialProviderPath);
  auto a = now(req("GET", path, "tokA"));
  EXPECT_EQ(a.status, 503);  // no provider configured: a clear error
  EXPECT_NE(a.body.find("evergreen.tes.credentialsEndpoint"), std::string::npos) << a.body;

  FakeCredentials creds;
  core_.setCredentialSource(&creds);
  EXPECT_EQ(now(req("GET", path, "")).status, 401);
  EXPECT_EQ(now(req("GET", path, "not-a-token")).status, 403);
  EXPECT_EQ(now(req("POST", path, "tokA")).status, 400);
  EXPECT_TRUE(creds.callers.empty());
  a = now(req("GET", path, "tokA"));
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, R"({"AccessKeyId":"AK"})");
  ASSERT_EQ(creds.callers.size(), 1u);
  EXPECT_EQ(creds.callers[0], kA);
  // Without the trailing slash too (some SDKs normalise the URI).
  EXPECT_EQ(now(req("GET", "/2016-11-01/credentialprovider", "tokB")).status, 200);
  EXPECT_EQ(creds.callers[1], kB);
  // A revoked token (worker gone) is refused.
  core_.removeWorker(2, "exited");
  EXPECT_EQ(now(req("GET", path, "tokB")).status, 403);

  // Asynchronous answer: parked, delivered through the responder.
  creds.sync = false;
  ParkId p = park(req("GET", path, "tokA"));
  ParkId gone = park(req("GET", path, "tokA"));
  core_.cancel(gone);  // its client disconnected
  ASSERT_EQ(creds.held.size(), 2u);
  HttpResponse r;
  r.status = 200;
  r.body = "late";
  creds.held[0](r);
  creds.held[1](r);
  ASSERT_EQ(answers_.count(p), 1u);
  EXPECT_EQ(answers_[p].body, "late");
  EXPECT_EQ(answers_.count(gone), 0u);
  core_.setCredentialSource(nullptr);
}

TEST(IpcCoreLifetime, LateCredentialAnswerAfterTheCoreIsGoneIsDropped) {
  FakeListener l;
  FakeCredentials creds;
  creds.sync = false;
  {
    IpcCore core(IpcOptions{}, l, Log());
    core.setResponder([](ParkId, HttpResponse) { FAIL() << "no answer expected"; });
    core.addFunction({kA, 3000, 0});
    ASSERT_TRUE(core.addWorker(1, kA, "tok", 1).isOk());
    core.setCredentialSource(&creds);
    HttpRequest r;
    r.method = "GET";
    r.path = std::string(kCredentialProviderPath);
    r.headers["authorization"] = "tok";
    EXPECT_FALSE(core.handle(r, 7).has_value());
  }
  ASSERT_EQ(creds.held.size(), 1u);
  creds.held[0](HttpResponse{});  // must not touch the destroyed core
}

TEST(Base64Test, RoundTrip) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto d = base64Decode(base64Encode(s));
    ASSERT_TRUE(d.isOk());
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(base64Encode("{}"), "e30=");
  EXPECT_FALSE(base64Decode("a b").isOk());
}

}  // namespace
}  // namespace evg::ipc
