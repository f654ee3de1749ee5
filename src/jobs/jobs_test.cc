#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "jobs/job_document.h"
#include "jobs/jobs_client.h"
#include "jobs/jobs_state.h"

namespace evg::jobs {
namespace {

using nlohmann::json;

const std::string kHex(64, 'a');

json validDoc() {
  return json{{"schema", "evergreen/job/1"},
              {"deploymentId", "fleet-a"},
              {"group", {{"Subscriptions", json::array()}}},
              {"functions",
               {{{"name", "Echo"},
                 {"version", 3},
                 {"runtime", "python3.11"},
                 {"handler", "echo.handler"},
                 {"artifact",
                  {{"url", "https://s3.example/b/k.zip?X-Amz-Signature=1"},
                   {"sha256", kHex},
                   {"size", 10}}}}}},
              {"failurePolicy", "leave"},
              {"healthWindowSeconds", 3}};
}

TEST(JobDocument, ParsesTheAgreedSchema) {
  auto d = parseJobDocument(validDoc());
  ASSERT_TRUE(d.isOk()) << d.status().message();
  EXPECT_EQ(d->deployment_id, "fleet-a");
  ASSERT_EQ(d->functions.size(), 1u);
  EXPECT_EQ(d->functions[0].name, "Echo");
  EXPECT_EQ(d->functions[0].version, 3u);
  EXPECT_EQ(d->functions[0].artifact.size, 10u);
  EXPECT_FALSE(d->rollback_on_failure);
  EXPECT_EQ(d->health_window_s, 3);
  json min = {{"schema", "evergreen/job/1"}, {"group", json::object()}};
  auto m = parseJobDocument(min);
  ASSERT_TRUE(m.isOk());
  EXPECT_TRUE(m->rollback_on_failure);
  EXPECT_EQ(m->health_window_s, 10);
}

void expectRejected(json doc, const std::string& field) {
  auto d = parseJobDocument(doc);
  ASSERT_FALSE(d.isOk()) << doc.dump();
  EXPECT_NE(d.status().message().find(field), std::string::npos) << d.status().message();
}

TEST(JobDocument, RejectionsNameTheField) {
  json d = validDoc();
  d["extra"] = 1;
  expectRejected(d, "extra: unknown key");
  d = validDoc();
  d["schema"] = "evergreen/job/2";
  EXPECT_EQ(parseJobDocument(d).status().code(), Code::kUnsupported);
  d.erase("schema");
  expectRejected(d, "schema");
  d = validDoc();
  d["functions"][0]["artifact"]["sha256"] = "abc";
  expectRejected(d, "functions[0].artifact.sha256");
  d = validDoc();
  d["functions"][0]["artifact"]["url"] =
      "${aws:iot:s3-presigned-url:https://s3.us-east-1.amazonaws.com/b/k}";
  expectRejected(d, "functions[0].artifact.url: the presigned-URL placeholder");
  d = validDoc();
  d["functions"][0]["artifact"]["url"] = "http://plain/k";
  expectRejected(d, "functions[0].artifact.url: must be an https");
  d = validDoc();
  d["functions"][0]["version"] = 0;
  expectRejected(d, "functions[0].version");
  d = validDoc();
  d["functions"][0]["name"] = "bad name";
  expectRejected(d, "functions[0].name");
  d = validDoc();
  d["groupArtifact"] = {{"url", "https://x/g.json"}, {"sha256", kHex}};
  expectRejected(d, "exactly one");
  d = validDoc();
  d["config"] = {{"runtime.allowRoot", "true"}};
  expectRejected(d, "config.runtime.allowRoot");
  d = validDoc();
  d["config"] = {{"log.level", "LOUD"}};
  expectRejected(d, "config.log.level");
  d = validDoc();
  d["failurePolicy"] = "pray";
  expectRejected(d, "failurePolicy");
  d = validDoc();
  d["healthWindowSeconds"] = 601;
  expectRejected(d, "healthWindowSeconds");
  d = validDoc();
  d["functions"].push_back(d["functions"][0]);
  expectRejected(d, "listed twice");
  d = validDoc();
  d["group"]["Padding"] = std::string(40000, 'x');
  EXPECT_EQ(parseJobDocument(d).status().code(), Code::kTooLarge);
}

TEST(JobDocument, DigestIgnoresPresignedQueryStrings) {
  json a = validDoc();
  json b = validDoc();
  b["functions"][0]["artifact"]["url"] =
      "https://s3.example/b/k.zip?X-Amz-Signature=2&X-Amz-Date=3";
  EXPECT_EQ(documentDigest(a), documentDigest(b));
  b["functions"][0]["artifact"]["url"] = "https://s3.example/b/other.zip?X-Amz-Signature=2";
  EXPECT_NE(documentDigest(a), documentDigest(b));
}

TEST(StatusDetails, SanitizedToAwsLimits) {
  json in = {{"reason", "line1\nline2\ttab" + std::string(2000, 'x')},
             {"bad key!", "v"},
             {"empty", ""},
             {"n", 5},
             {std::string(200, 'k'), "long key"}};
  json out = sanitizeStatusDetails(in);
  std::string r = out["reason"];
  EXPECT_EQ(r.size(), 1024u);
  EXPECT_EQ(r.substr(0, 16), "line1 line2 tab" + std::string("x"));
  EXPECT_EQ(out["bad_key_"], "v");
  EXPECT_FALSE(out.contains("empty"));
  EXPECT_EQ(out["n"], "5");
  EXPECT_TRUE(out.contains(std::string(128, 'k')));
  // UTF-8 is cut on a character boundary, C1 controls become spaces.
  std::string u;
  for (int i = 0; i < 1100; ++i) u += "\xc3\xa9";
  std::string cut = sanitizeStatusDetails(json{{"r", u}})["r"];
  EXPECT_EQ(cut.size(), 2048u);
  EXPECT_EQ(sanitizeStatusDetails(json{{"r", "a\xc2\x85z"}})["r"], "a z");
}

struct Recorder : JobsEvents {
  int no_next = 0;
  void onNoNextExecution() override { ++no_next; }
  std::vector<std::pair<std::string, json>> sent;
  std::vector<Execution> next;
  std::vector<std::pair<std::string, Result<Execution>>> described;
  std::vector<std::tuple<std::string, std::string, Status>> updated;
  void publish(const std::string& t, std::string p) override {
    sent.emplace_back(t, json::parse(p));
  }
  void onNextExecution(const Execution& e) override { next.push_back(e); }
  void onDescribed(const std::string& j, Result<Execution> e) override {
    described.emplace_back(j, std::move(e));
  }
  void onUpdated(const std::string& j, const std::string& s, Status st) override {
    updated.emplace_back(j, s, st);
  }
};

const std::string P = "$aws/things/Core1/jobs/";

JobsClientOptions opts() {
  JobsClientOptions o;
  o.thing = "Core1";
  o.request_timeout_ms = 1000;
  o.max_attempts = 3;
  o.retry_base_ms = 100;
  o.retry_max_ms = 400;
  o.seed = 42;
  return o;
}

TEST(JobsClient, SubscribesAndStartsNextAtConnect) {
  Recorder r;
  JobsClient c(opts(), r);
  auto f = c.filters();
  EXPECT_NE(std::find(f.begin(), f.end(), P + "notify-next"), f.end());
  EXPECT_NE(std::find(f.begin(), f.end(), P + "+/update/rejected"), f.end());
  EXPECT_NE(std::find(f.begin(), f.end(), P + "start-next/accepted"), f.end());
  c.onConnected(0);
  ASSERT_EQ(r.sent.size(), 1u);
  EXPECT_EQ(r.sent[0].first, P + "start-next");
  std::string tok = r.sent[0].second["clientToken"];
  // A reply with someone else's token is ignored; the matching one delivers the execution.
  json exec = {{"jobId", "job1"},
               {"executionNumber", 1},
               {"versionNumber", 2},
               {"status", "IN_PROGRESS"},
               {"jobDocument", {{"schema", "evergreen/job/1"}}}};
  EXPECT_TRUE(c.onMessage(P + "start-next/accepted",
                          json{{"clientToken", "other"}, {"execution", exec}}.dump(), 5));
  EXPECT_TRUE(r.next.empty());
  EXPECT_EQ(c.stats().unmatched_replies, 1u);
  c.onMessage(P + "start-next/accepted", json{{"clientToken", tok}, {"execution", exec}}.dump(), 6);
  ASSERT_EQ(r.next.size(), 1u);
  EXPECT_EQ(r.next[0].job_id, "job1");
  EXPECT_EQ(r.next[0].version_number, 2);
  ASSERT_TRUE(r.next[0].document.has_value());
  EXPECT_EQ(c.pending(), 0u);
  // Nothing pending: no execution field.
  c.startNext(10);
  c.onMessage(P + "start-next/accepted",
              json{{"clientToken", r.sent.back().second["clientToken"]}}.dump(), 11);
  EXPECT_EQ(r.next.size(), 1u);
  // notify-next carries the next execution; other things' topics are not ours.
  c.onMessage(P + "notify-next", json{{"execution", exec}}.dump(), 12);
  EXPECT_EQ(r.next.size(), 2u);
  // notify-next without an execution: nothing pending any more (a canceled job).
  c.onMessage(P + "notify-next", json{{"timestamp", 1}}.dump(), 12);
  EXPECT_EQ(r.no_next, 1);
  EXPECT_EQ(r.next.size(), 2u);
  EXPECT_TRUE(c.onMessage(P + "notify-next", "not json", 12));  // ours, ignored
  EXPECT_FALSE(c.onMessage("$aws/things/Other/jobs/notify-next", "{}", 13));
}

TEST(JobsClient, UpdatesAreSerialisedWithExpectedVersionAndFreshTokens) {
  Recorder r;
  JobsClient c(opts(), r);
  c.update("job1", "IN_PROGRESS", {{"step", "download"}}, 2, 0);
  c.update("job1", "SUCCEEDED", {{"step", "done"}}, 0, 1);
  ASSERT_EQ(r.sent.size(), 1u);  // the second waits for the first's reply
  EXPECT_EQ(r.sent[0].first, P + "job1/update");
  EXPECT_EQ(r.sent[0].second["status"], "IN_PROGRESS");
  EXPECT_EQ(r.sent[0].second["expectedVersion"], 2);
  EXPECT_EQ(r.sent[0].second["statusDetails"]["step"], "download");
  c.onMessage(P + "job1/update/accepted",
              json{{"clientToken", r.sent[0].second["clientToken"]},
                   {"executionState", {{"status", "IN_PROGRESS"}, {"versionNumber", 3}}}}
                  .dump(),
              2);
  ASSERT_EQ(r.updated.size(), 1u);
  EXPECT_TRUE(std::get<2>(r.updated[0]).isOk());
  ASSERT_EQ(r.sent.size(), 2u);
  EXPECT_EQ(r.sent[1].second["status"], "SUCCEEDED");
  EXPECT_EQ(r.sent[1].second["expectedVersion"], 3);
  EXPECT_NE(r.sent[1].second["clientToken"], r.sent[0].second["clientToken"]);
}

TEST(JobsClient, RetriesThrottledAndTimeoutsWithCappedBackoff) {
  Recorder r;
  JobsClient c(opts(), r);
  c.update("job1", "SUCCEEDED", json::object(), 5, 0);
  std::string t1 = r.sent[0].second["clientToken"];
  c.onMessage(P + "job1/update/rejected",
              json{{"clientToken", t1}, {"code", "RequestThrottled"}, {"message", "slow"}}.dump(),
              10);
  EXPECT_TRUE(r.updated.empty());
  ASSERT_TRUE(c.nextDeadline().has_value());
  int64_t d = *c.nextDeadline();
  EXPECT_GE(d, 10 + 50);
  EXPECT_LE(d, 10 + 100);
  c.tick(d);
  ASSERT_EQ(r.sent.size(), 2u);
  std::string t2 = r.sent[1].second["clientToken"];
  EXPECT_NE(t1, t2);
  // A late reply to the first attempt's token is not taken for the second.
  c.onMessage(P + "job1/update/accepted", json{{"clientToken", t1}}.dump(), d + 1);
  EXPECT_TRUE(r.updated.empty());
  // No reply: timeout -> backoff (attempt 2: [100, 200]) -> third attempt -> timeout -> failed.
  c.tick(d + 1000);
  int64_t d2 = *c.nextDeadline();
  EXPECT_GE(d2 - (d + 1000), 100);
  EXPECT_LE(d2 - (d + 1000), 200);
  c.tick(d2);
  ASSERT_EQ(r.sent.size(), 3u);
  c.tick(d2 + 1000);
  ASSERT_EQ(r.updated.size(), 1u);
  EXPECT_EQ(std::get<2>(r.updated[0]).code(), Code::kTimeout);
  EXPECT_EQ(c.pending(), 0u);
  EXPECT_EQ(c.stats().timeouts, 2u);
}

TEST(JobsClient, VersionMismatchTakesTheCurrentVersionOrDescribes) {
  Recorder r;
  JobsClient c(opts(), r);
  c.update("job1", "FAILED", {{"reason", "x"}}, 2, 0);
  c.onMessage(P + "job1/update/rejected",
              json{{"clientToken", r.sent[0].second["clientToken"]},
                   {"code", "VersionMismatch"},
                   {"executionState", {{"versionNumber", 7}}}}
                  .dump(),
              1);
  ASSERT_EQ(r.sent.size(), 2u);
  EXPECT_EQ(r.sent[1].second["expectedVersion"], 7);
  // Without executionState: a <job>/get first, then the update with the version it returns.
  c.onMessage(
      P + "job1/update/rejected",
      json{{"clientToken", r.sent[1].second["clientToken"]}, {"code", "VersionMismatch"}}.dump(),
      2);
  ASSERT_EQ(r.sent.size(), 3u);
  EXPECT_EQ(r.sent[2].first, P + "job1/get");
  EXPECT_EQ(r.sent[2].second["includeJobDocument"], true);
  c.onMessage(P + "job1/get/accepted",
              json{{"clientToken", r.sent[2].second["clientToken"]},
                   {"execution", {{"jobId", "job1"}, {"versionNumber", 9}}}}
                  .dump(),
              3);
  EXPECT_TRUE(r.described.empty());  // internal
  ASSERT_EQ(r.sent.size(), 4u);
  EXPECT_EQ(r.sent[3].first, P + "job1/update");
  EXPECT_EQ(r.sent[3].second["expectedVersion"], 9);
  c.onMessage(
      P + "job1/update/rejected",
      json{{"clientToken", r.sent[3].second["clientToken"]}, {"code", "TerminalStateReached"}}
          .dump(),
      4);
  ASSERT_EQ(r.updated.size(), 1u);
  EXPECT_EQ(std::get<2>(r.updated[0]).code(), Code::kConflict);
}

TEST(JobsClient, DescribeReturnsTheDocumentOrTheError) {
  Recorder r;
  JobsClient c(opts(), r);
  c.describe("job1", 0);
  c.onMessage(P + "job1/get/accepted",
              json{{"clientToken", r.sent[0].second["clientToken"]},
                   {"execution",
                    {{"jobId", "job1"},
                     {"executionNumber", 1},
                     {"versionNumber", 3},
                     {"jobDocument", "{\"schema\":\"evergreen/job/1\"}"}}}}
                  .dump(),
              1);
  ASSERT_EQ(r.described.size(), 1u);
  ASSERT_TRUE(r.described[0].second.isOk());
  EXPECT_EQ((*r.described[0].second->document)["schema"], "evergreen/job/1");
  c.describe("job2", 2);
  c.onMessage(
      P + "job2/get/rejected",
      json{{"clientToken", r.sent[1].second["clientToken"]}, {"code", "ResourceNotFound"}}.dump(),
      3);
  ASSERT_EQ(r.described.size(), 2u);
  EXPECT_EQ(r.described[1].second.status().code(), Code::kNotFound);
}

TEST(JobsClient, ReconnectResendsPendingWithNewTokens) {
  Recorder r;
  JobsClient c(opts(), r);
  c.update("job1", "SUCCEEDED", json::object(), 4, 0);
  c.onConnected(5);
  ASSERT_EQ(r.sent.size(), 3u);  // the update again + start-next
  EXPECT_EQ(r.sent[1].first, P + "job1/update");
  EXPECT_NE(r.sent[1].second["clientToken"], r.sent[0].second["clientToken"]);
  EXPECT_EQ(r.sent[2].first, P + "start-next");
}

TEST(JobsState, PersistsHandledExecutionsAndTheJournal) {
  auto dir =
      std::filesystem::temp_directory_path() / ("jobs_state_test_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::string path = (dir / "jobs-state.json").string();
  auto s = JobsState::load(path, 2);
  ASSERT_TRUE(s.isOk());
  EXPECT_TRUE(s->all().empty());
  for (int i = 1; i <= 3; ++i) {
    HandledExecution h;
    h.job_id = "job" + std::to_string(i);
    h.execution_number = 1;
    h.status = "SUCCEEDED";
    h.details = {{"step", "done"}};
    s->put(h);
  }
  EXPECT_TRUE(s->markReported("job3", 1));
  ASSERT_TRUE(s->save().isOk());
  auto t = JobsState::load(path, 2);
  ASSERT_TRUE(t.isOk());
  EXPECT_EQ(t->all().size(), 2u);  // bounded: the oldest dropped
  EXPECT_EQ(t->find("job1", 1), nullptr);
  ASSERT_NE(t->find("job3", 1), nullptr);
  EXPECT_TRUE(t->find("job3", 1)->reported);
  EXPECT_EQ(t->find("job3", 2), nullptr);

  std::string jp = (dir / "job-inflight.json").string();
  auto none = loadInflight(jp);
  ASSERT_TRUE(none.isOk());
  EXPECT_FALSE(none->has_value());
  InflightJob f;
  f.job_id = "job9";
  f.execution_number = 2;
  f.previous_history_id = 4;
  f.step = "activate";
  ASSERT_TRUE(saveInflight(jp, f).isOk());
  auto back = loadInflight(jp);
  ASSERT_TRUE(back.isOk() && back->has_value());
  EXPECT_EQ((*back)->job_id, "job9");
  EXPECT_EQ((*back)->previous_history_id, 4);
  ASSERT_TRUE(removeInflight(jp).isOk());
  std::ofstream(jp) << "{broken";
  EXPECT_EQ(loadInflight(jp).status().code(), Code::kCorruption);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace evg::jobs
