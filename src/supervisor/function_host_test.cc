// FunctionHost driven end to end with the real Python runtime (runtime/python) and real workers.
// Functions report what they saw by publishing through GGRouter; the test's HostHooks records it.
#include "supervisor/function_host.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

namespace evg::lambda {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kCode = R"PY(
import json, logging, os, sys, time
import greengrasssdk

iot = greengrasssdk.client('iot-data')
lam = greengrasssdk.client('lambda')
state = {'n': 0}

def pub(topic, obj):
    iot.publish(topic=topic, payload=json.dumps(obj))

def count(event, context):
    state['n'] += 1
    pub('out/count', {'n': state['n'], 'pid': os.getpid(),
                      'subject': context.client_context.custom['subject']})

def slow(event, context):
    time.sleep(event.get('sleep', 0.5))
    pub('out/slow', {'pid': os.getpid()})
    return {'pid': os.getpid()}

def boom(event, context):
    raise ValueError('boom happened')

def crash(event, context):
    pub('out/crash', {'pid': os.getpid()})
    time.sleep(0.2)
    os._exit(7)

def reverse(event, context):
    return bytes(bytearray(reversed(bytearray(event))))

def caller(event, context):
    payload = event['raw'] if 'raw' in event else json.dumps(event.get('payload', {}))
    r = lam.invoke(FunctionName=event['target'], InvocationType='RequestResponse', Payload=payload)
    p = r['Payload']
    p = p.read() if hasattr(p, 'read') else p
    pub('out/caller', {'err': r['FunctionError'], 'payload': p.decode('utf-8', 'replace')})

def spoof(event, context):
    try:
        from urllib.request import Request, urlopen
        from urllib.error import HTTPError
    except ImportError:
        from urllib2 import Request, urlopen, HTTPError
    url = 'http://127.0.0.1:%s/2016-11-01/functions/%s/work' % (os.environ['GG_DAEMON_PORT'], event['target'])
    req = Request(url, headers={'Authorization': os.environ['AWS_CONTAINER_AUTHORIZATION_TOKEN']})
    try:
        urlopen(req, timeout=2)
        code = 200
    except HTTPError as e:
        code = e.code
    pub('out/spoof', {'code': code})

def logs(event, context):
    logging.getLogger().warning('warned from the handler')
    print('printed line')
    pub('out/logs', {'thing': os.environ.get('AWS_IOT_THING_NAME'), 'var': os.environ.get('MY_VAR')})
)PY";

struct Published {
  std::string source, topic;
  json payload;
};

struct RecordingHooks : HostHooks {
  Status onFunctionPublish(const std::string& source, const std::string& topic,
                           std::shared_ptr<const std::string> payload, std::string_view) override {
    json j = json::parse(*payload, nullptr, false);
    got.push_back({source, topic, j});
    return Status::ok();
  }
  std::vector<Published> got;
};

std::string arn(const std::string& name) {
  return "arn:aws:lambda:us-east-1:123456789012:function:" + name + ":1";
}

class FunctionHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/evg_host_XXXXXX";
    root_ = mkdtemp(tmpl);
    fs::create_directories(root_ + "/code");
    std::ofstream(root_ + "/code/app.py") << kCode;
    makeHost([](HostOptions&) {});
  }
  void makeHost(const std::function<void(HostOptions&)>& tweak) {
    HostOptions o;
    o.port = 0;
    o.root_dir = root_;
    o.runtime_dir = std::string(EVG_SOURCE_DIR) + "/runtime";
    o.region = "us-east-1";
    o.account = "123456789012";
    o.thing_name = "TestCore";
    o.allow_root = true;
    o.backoff_initial_ms = 100;
    o.backoff_max_ms = 400;
    o.crash_loop_threshold = 3;
    o.idle_timeout_ms = 60000;
    o.stop_grace_ms = 2000;
    tweak(o);
    if (host_) {
      bool done = false;
      host_->stop([&] { done = true; });
      runUntil([&] { return done; }, 10000);
    }
    host_ = std::make_unique<FunctionHost>(
        io_, o, hooks_, Log(getenv("EVG_TEST_LOG") ? &logger_ : nullptr, "host"));
    ASSERT_TRUE(host_->start().isOk());
  }
  void TearDown() override {
    bool done = false;
    host_->stop([&] { done = true; });
    runUntil([&] { return done; }, 10000);
    EXPECT_TRUE(done);
    host_.reset();
    fs::remove_all(root_);
  }
  FunctionSpec spec(const std::string& name, const std::string& handler, bool pinned = false) {
    FunctionSpec s;
    s.arn = arn(name);
    s.runtime = "python3.8";
    s.handler = handler;
    s.code_dir = root_ + "/code";
    s.pinned = pinned;
    s.timeout_ms = 5000;
    return s;
  }
  bool runUntil(const std::function<bool()>& pred, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_one_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  std::vector<Published> on(const std::string& topic) {
    std::vector<Published> out;
    for (auto& p : hooks_.got) {
      if (p.topic == topic) out.push_back(p);
    }
    return out;
  }
  bool waitFor(const std::string& topic, size_t n, int timeout_ms = 15000) {
    return runUntil([&] { return on(topic).size() >= n; }, timeout_ms);
  }
  Status send(const std::string& name, const json& event, const std::string& topic = "in/t") {
    return host_->invokeFromSubscription(arn(name), topic,
                                         std::make_shared<const std::string>(event.dump()));
  }

  boost::asio::io_context io_;
  RecordingHooks hooks_;
  Logger logger_{LogOptions{"", LogLevel::kDebug, true}};
  std::unique_ptr<FunctionHost> host_;
  std::string root_;
};

TEST_F(FunctionHostTest, PinnedKeepsStateAndSeesSubject) {
  ASSERT_TRUE(host_->deploy({spec("Counter", "app.count", true)}).isOk());
  // The pinned worker starts at deploy, before any work.
  ASSERT_TRUE(runUntil([&] { return host_->workerStatus().size() == 1; }, 5000));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(send("Counter", json::object(), "sensors/t1").isOk());
  ASSERT_TRUE(waitFor("out/count", 3));
  auto got = on("out/count");
  EXPECT_EQ(got[0].payload["n"], 1);
  EXPECT_EQ(got[2].payload["n"], 3);
  EXPECT_EQ(got[0].payload["pid"], got[2].payload["pid"]);
  EXPECT_EQ(got[0].payload["subject"], "sensors/t1");
  EXPECT_EQ(got[2].payload["subject"], "sensors/t1");  // the cached context of the same topic
  EXPECT_EQ(got[0].source, arn("Counter"));            // publish source = the worker's function
  // Another topic, then the first again: each invocation sees its own subject.
  ASSERT_TRUE(send("Counter", json::object(), "sensors/t2").isOk());
  ASSERT_TRUE(send("Counter", json::object(), "sensors/t1").isOk());
  ASSERT_TRUE(waitFor("out/count", 5));
  got = on("out/count");
  EXPECT_EQ(got[3].payload["subject"], "sensors/t2");
  EXPECT_EQ(got[4].payload["subject"], "sensors/t1");
}

TEST_F(FunctionHostTest, OnDemandRunsInParallel) {
  ASSERT_TRUE(host_->deploy({spec("Slow", "app.slow")}).isOk());
  EXPECT_TRUE(host_->workerStatus().empty());  // on-demand: nothing until work arrives
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(send("Slow", {{"sleep", 1.0}}).isOk());
  ASSERT_TRUE(waitFor("out/slow", 3));
  std::set<int> pids;
  for (auto& p : on("out/slow")) pids.insert(p.payload["pid"].get<int>());
  EXPECT_GE(pids.size(), 2u) << "on-demand work should be spread over several workers";
  // Warm workers are reused.
  ASSERT_TRUE(send("Slow", {{"sleep", 0.0}}).isOk());
  ASSERT_TRUE(waitFor("out/slow", 4));
  EXPECT_EQ(pids.count(on("out/slow")[3].payload["pid"].get<int>()), 1u);
}

TEST_F(FunctionHostTest, RequestResponseErrorsAsSeenBySdk) {
  auto slow = spec("Slow", "app.slow");
  slow.timeout_ms = 700;
  auto caller = spec("Caller", "app.caller");
  caller.timeout_ms = 20000;
  ASSERT_TRUE(host_->deploy({slow, spec("Boom", "app.boom"), caller}).isOk());

  ASSERT_TRUE(send("Caller", {{"target", arn("Slow")}, {"payload", {{"sleep", 0.1}}}}).isOk());
  ASSERT_TRUE(waitFor("out/caller", 1));
  EXPECT_EQ(on("out/caller")[0].payload["err"], "");
  EXPECT_NE(on("out/caller")[0].payload["payload"].get<std::string>().find("pid"),
            std::string::npos);

  ASSERT_TRUE(send("Caller", {{"target", arn("Boom")}}).isOk());
  ASSERT_TRUE(waitFor("out/caller", 2));
  EXPECT_EQ(on("out/caller")[1].payload["err"], "Handled");
  EXPECT_NE(on("out/caller")[1].payload["payload"].get<std::string>().find("boom happened"),
            std::string::npos);

  ASSERT_TRUE(send("Caller", {{"target", arn("Slow")}, {"payload", {{"sleep", 5}}}}).isOk());
  ASSERT_TRUE(waitFor("out/caller", 3));
  EXPECT_EQ(on("out/caller")[2].payload["err"], "Unhandled");
  EXPECT_NE(on("out/caller")[2].payload["payload"].get<std::string>().find("timed out"),
            std::string::npos);
  // The timed-out worker was killed and a new one serves the next call.
  ASSERT_TRUE(send("Caller", {{"target", arn("Slow")}, {"payload", {{"sleep", 0.1}}}}).isOk());
  ASSERT_TRUE(waitFor("out/caller", 4));
  EXPECT_EQ(on("out/caller")[3].payload["err"], "");
  auto st = host_->functionStatus();
  auto it = std::find_if(st.begin(), st.end(), [](auto& s) { return s.arn == arn("Slow"); });
  ASSERT_NE(it, st.end());
  EXPECT_EQ(it->queue.timeouts, 1u);
}

TEST_F(FunctionHostTest, BinaryEncoding) {
  auto rev = spec("Reverse", "app.reverse");
  rev.encoding = functions::Encoding::kBinary;
  ASSERT_TRUE(host_->deploy({rev, spec("Caller", "app.caller")}).isOk());
  ASSERT_TRUE(send("Caller", {{"target", arn("Reverse")}, {"raw", "abc\x01"}}).isOk());
  ASSERT_TRUE(waitFor("out/caller", 1));
  EXPECT_EQ(on("out/caller")[0].payload["err"], "");
  EXPECT_EQ(on("out/caller")[0].payload["payload"],
            "\x01"
            "cba");
}

TEST_F(FunctionHostTest, PinnedCrashRestartsWithBackoff) {
  ASSERT_TRUE(host_->deploy({spec("Crash", "app.crash", true)}).isOk());
  ASSERT_TRUE(send("Crash", json::object()).isOk());
  ASSERT_TRUE(waitFor("out/crash", 1));
  ASSERT_TRUE(send("Crash", json::object()).isOk());  // queued behind the crash: not lost
  ASSERT_TRUE(waitFor("out/crash", 2));
  EXPECT_NE(on("out/crash")[0].payload["pid"], on("out/crash")[1].payload["pid"]);
  ASSERT_TRUE(runUntil(
      [&] {
        auto st = host_->functionStatus();
        return !st.empty() && st[0].restarts >= 2;
      },
      10000));
  auto st = host_->functionStatus()[0];
  EXPECT_GE(st.consecutive_failures, 2u);
  EXPECT_GE(st.queue.unhandled_errors, 1u);
}

TEST_F(FunctionHostTest, CrashLoopIsReportedNotSpun) {
  // The handler module does not exist: the runtime exits at start-up, every time.
  ASSERT_TRUE(host_->deploy({spec("Broken", "missing_module.handler", true)}).isOk());
  ASSERT_TRUE(runUntil([&] { return host_->functionStatus()[0].crash_loop; }, 10000));
  auto t0 = std::chrono::steady_clock::now();
  uint32_t before = host_->functionStatus()[0].restarts;
  runUntil([] { return false; }, 1000);
  uint32_t during = host_->functionStatus()[0].restarts - before;
  // Backoff is capped at 400 ms in this fixture: about 2-3 restarts per second, not hundreds.
  EXPECT_LE(during, 4u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1000));
}

TEST_F(FunctionHostTest, TokenOfOneFunctionCannotPullAnothersWork) {
  ASSERT_TRUE(
      host_->deploy({spec("Spoof", "app.spoof"), spec("Counter", "app.count", true)}).isOk());
  ASSERT_TRUE(send("Spoof", {{"target", arn("Counter")}}).isOk());
  ASSERT_TRUE(waitFor("out/spoof", 1));
  EXPECT_EQ(on("out/spoof")[0].payload["code"], 403);
}

TEST_F(FunctionHostTest, UserLogsEnvAndDeployValidation) {
  auto s = spec("Logs", "app.logs");
  s.env = {{"MY_VAR", "hello"}};
  ASSERT_TRUE(host_->deploy({s}).isOk());
  ASSERT_TRUE(send("Logs", json::object()).isOk());
  ASSERT_TRUE(waitFor("out/logs", 1));
  EXPECT_EQ(on("out/logs")[0].payload["thing"], "TestCore");
  EXPECT_EQ(on("out/logs")[0].payload["var"], "hello");
  std::string path = root_ + "/var/log/user/us-east-1/123456789012/Logs.log";
  std::string text;
  ASSERT_TRUE(runUntil(
      [&] {
        std::ifstream in(path);
        text.assign(std::istreambuf_iterator<char>(in), {});
        return text.find("printed line") != std::string::npos &&
               text.find("warned from the handler") != std::string::npos;
      },
      5000))
      << text;
  EXPECT_NE(text.find("][WARN]-app.py:"), std::string::npos) << text;
  EXPECT_NE(text.find("][INFO]-printed line"), std::string::npos) << text;

  auto bad = spec("Node", "index.handler");
  bad.runtime = "ruby2.7";  // not a v1 runtime Evergreen runs
  Status st = host_->deploy({bad});
  EXPECT_EQ(st.code(), Code::kUnsupported);
  auto latest = spec("L", "app.logs");
  latest.arn = "arn:aws:lambda:us-east-1:123456789012:function:L:$LATEST";
  EXPECT_EQ(host_->deploy({latest}).code(), Code::kInvalid);
  // A refused deploy changes nothing.
  EXPECT_EQ(host_->functionStatus().size(), 1u);
  EXPECT_EQ(host_->invokeFromSubscription(arn("Nope"), "t", nullptr).code(), Code::kNotFound);
}

TEST_F(FunctionHostTest, IdleWorkersStopAndGlobalLimitHolds) {
  makeHost([](HostOptions& o) {
    o.idle_timeout_ms = 300;
    o.max_concurrent = 1;
  });
  ASSERT_TRUE(host_->deploy({spec("Slow", "app.slow"), spec("Counter", "app.count")}).isOk());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(send("Slow", {{"sleep", 0.2}}).isOk());
  size_t max_workers = 0;
  ASSERT_TRUE(runUntil(
      [&] {
        max_workers = std::max(max_workers, host_->workerStatus().size());
        return on("out/slow").size() == 3;
      },
      15000));
  EXPECT_EQ(max_workers, 1u) << "maxConcurrentLimit = 1";
  // The idle Slow worker makes room for Counter at the global limit.
  ASSERT_TRUE(send("Counter", json::object()).isOk());
  ASSERT_TRUE(waitFor("out/count", 1));
  // And once idle, workers are stopped.
  ASSERT_TRUE(runUntil([&] { return host_->workerStatus().empty(); }, 5000));
}

int standbyOf(const FunctionHost& host, const std::string& a) {
  for (const auto& f : host.functionStatus()) {
    if (f.arn == a) return f.standby_pid;
  }
  return -1;
}

TEST_F(FunctionHostTest, StandbyServesTheFirstInvocationAndIsReplacedAfterIt) {
  ASSERT_TRUE(
      host_->deploy({spec("Counter", "app.count"), spec("Pinned", "app.count", true)}).isOk());
  int first = standbyOf(*host_, arn("Counter"));
  EXPECT_GT(first, 0) << "an on-demand function gets a standby at deploy";
  EXPECT_EQ(standbyOf(*host_, arn("Pinned")), 0) << "a pinned one does not";
  ASSERT_TRUE(runUntil([&] { return host_->workerStatus().size() == 1; }, 5000));  // the pinned
  ASSERT_TRUE(send("Counter", json::object()).isOk());
  ASSERT_TRUE(waitFor("out/count", 1));
  EXPECT_EQ(on("out/count")[0].payload["pid"].get<int>(), first);
  // The next standby starts once that worker is done with its first invocation.
  ASSERT_TRUE(runUntil(
      [&] {
        int now = standbyOf(*host_, arn("Counter"));
        return now > 0 && now != first;
      },
      5000));
  int second = standbyOf(*host_, arn("Counter"));
  bool done = false;
  host_->stop([&] { done = true; });
  ASSERT_TRUE(runUntil([&] { return done; }, 10000)) << "stop waits for standbys too";
  EXPECT_NE(kill(second, 0), 0) << "standby must be gone after stop";
  makeHost([](HostOptions&) {});  // TearDown stops a host
}

TEST_F(FunctionHostTest, StandbyTotalIsBoundedAndZeroTurnsThemOff) {
  makeHost([](HostOptions& o) { o.max_standby_workers = 1; });
  ASSERT_TRUE(host_->deploy({spec("A", "app.count"), spec("B", "app.count")}).isOk());
  EXPECT_EQ((standbyOf(*host_, arn("A")) > 0) + (standbyOf(*host_, arn("B")) > 0), 1);
  makeHost([](HostOptions& o) { o.max_standby_workers = 0; });
  ASSERT_TRUE(host_->deploy({spec("A", "app.count")}).isOk());
  EXPECT_EQ(standbyOf(*host_, arn("A")), 0);
  ASSERT_TRUE(send("A", json::object()).isOk());  // a plain start serves it
  ASSERT_TRUE(waitFor("out/count", 1));
  EXPECT_EQ(standbyOf(*host_, arn("A")), 0);
}

TEST_F(FunctionHostTest, KilledStandbyIsReplacedAfterTheRetryDelay) {
  makeHost([](HostOptions& o) { o.standby_retry_initial_ms = 100; });
  ASSERT_TRUE(host_->deploy({spec("Counter", "app.count")}).isOk());
  int first = standbyOf(*host_, arn("Counter"));
  ASSERT_GT(first, 0);
  ASSERT_EQ(kill(first, SIGKILL), 0);
  ASSERT_TRUE(runUntil(
      [&] {
        int now = standbyOf(*host_, arn("Counter"));
        return now > 0 && now != first;
      },
      5000));
  ASSERT_TRUE(send("Counter", json::object()).isOk());
  ASSERT_TRUE(waitFor("out/count", 1));
  EXPECT_NE(on("out/count")[0].payload["pid"].get<int>(), first);
}

TEST_F(FunctionHostTest, StopTerminatesWorkersAndRefusesDeploys) {
  ASSERT_TRUE(host_->deploy({spec("Counter", "app.count", true)}).isOk());
  ASSERT_TRUE(send("Counter", json::object()).isOk());
  ASSERT_TRUE(waitFor("out/count", 1));
  int pid = on("out/count")[0].payload["pid"].get<int>();
  bool done = false;
  host_->stop([&] { done = true; });
  ASSERT_TRUE(runUntil([&] { return done; }, 10000));
  EXPECT_NE(kill(pid, 0), 0) << "worker must be gone after stop";
  EXPECT_EQ(host_->deploy({spec("Counter", "app.count", true)}).code(), Code::kBusy);
}

}  // namespace
}  // namespace evg::lambda
