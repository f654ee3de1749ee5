#pragma once
// JobsClient: the device side of the AWS IoT Jobs MQTT protocol, sans I/O. It produces the
// PUBLISHes to send (JobsEvents::publish), consumes the replies and events of the
// `$aws/things/<thing>/jobs/...` topics (onMessage), and keeps the time-outs and retries on a
// clock the caller passes in (tick(now) / nextDeadline()). The transport (the core's cloud MQTT
// connection) and the work a job does (src/daemon/core_jobs.cc) live elsewhere.
//
//   onConnected      -> start-next {clientToken}   (also startNext() when a job is finished)
//   start-next/accepted with execution, notify-next with execution -> onNextExecution
//   describe(job)    -> <job>/get {includeJobDocument, clientToken} -> onDescribed
//   update(job, st)  -> <job>/update {status, statusDetails, expectedVersion,
//                       includeJobExecutionState, clientToken} -> onUpdated
//                       (one update per job on the wire at a time; the next one waits for the
//                       reply so its expectedVersion is the version the previous one produced)
//   every request: a fresh clientToken per attempt, replies matched by token; no reply within
//   request_timeout_ms, RequestThrottled or InternalError -> resent after a capped exponential
//   backoff (jittered in [d/2, d]), at most max_attempts tries; VersionMismatch -> the version
//   from the reply's executionState (or a <job>/get) and resent.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/status.h"

namespace evg::jobs {

struct JobsClientOptions {
  std::string thing;                    // coreThing.thingName
  uint32_t request_timeout_ms = 10000;  // evergreen.jobs.requestTimeoutMs
  uint32_t max_attempts = 10;           // evergreen.jobs.maxAttempts (per request)
  uint32_t retry_base_ms = 1000;        // evergreen.jobs.retryBaseMs
  uint32_t retry_max_ms = 60000;        // evergreen.jobs.retryMaxMs
  uint64_t seed = 0;                    // token/jitter randomness (0 = random_device)
};

struct Execution {
  std::string job_id;
  int64_t execution_number = 0;
  int64_t version_number = 0;
  std::string status;
  std::optional<nlohmann::json> document;  // absent when the reply carries none
};

class JobsEvents {
 public:
  virtual ~JobsEvents() = default;
  virtual void publish(const std::string& topic, std::string payload) = 0;
  // start-next/accepted or notify-next carrying an execution.
  virtual void onNextExecution(const Execution& e) = 0;
  // notify-next without an execution: nothing pending any more (e.g. the job was canceled).
  virtual void onNoNextExecution() {}
  // Reply to describe(): the execution (with its document) or the error (code + message).
  virtual void onDescribed(const std::string& job_id, Result<Execution> e) = 0;
  // Final outcome of update(): OK once accepted; else the rejection or Timeout after retries.
  virtual void onUpdated(const std::string& job_id, const std::string& status, Status s) = 0;
};

struct JobsClientStats {
  uint64_t requests = 0;  // PUBLISHes sent (attempts)
  uint64_t retries = 0;
  uint64_t timeouts = 0;
  uint64_t rejected = 0;
  uint64_t version_mismatches = 0;
  uint64_t unmatched_replies = 0;  // replies with a token we did not send (or already answered)
};

// statusDetails as AWS accepts them: keys [a-zA-Z0-9:_-]{1,128} (other characters -> '_'),
// values strings of 1..1024 characters (longer ones cut, UTF-8 safe), control characters ->
// spaces; empty values dropped. Non-string values are serialised.
nlohmann::json sanitizeStatusDetails(const nlohmann::json& details);

// Job ids as AWS allows them: [a-zA-Z0-9_-]{1,64}.
bool isValidJobId(const std::string& id);

class JobsClient {
 public:
  JobsClient(JobsClientOptions opts, JobsEvents& events);

  // Filters to subscribe upstream.
  std::vector<std::string> filters() const;
  std::string topicPrefix() const { return prefix_; }

  void onConnected(int64_t now_ms);
  // true when `topic` is a jobs topic of this thing (consumed, even if malformed).
  bool onMessage(const std::string& topic, const std::string& payload, int64_t now_ms);
  void startNext(int64_t now_ms);
  void describe(const std::string& job_id, int64_t now_ms);
  // `expected_version`: the execution's versionNumber as last seen (0 = unknown: none sent).
  void update(const std::string& job_id, const std::string& status, nlohmann::json details,
              int64_t expected_version, int64_t now_ms);
  // Time-outs and scheduled resends due at `now_ms`.
  void tick(int64_t now_ms);
  std::optional<int64_t> nextDeadline() const;
  size_t pending() const { return pending_.size(); }
  const JobsClientStats& stats() const { return stats_; }

 private:
  enum class Kind { kStartNext, kDescribe, kUpdate };
  struct Request {
    uint64_t id = 0;
    Kind kind = Kind::kStartNext;
    std::string job_id;
    std::string status;  // update
    nlohmann::json details;
    bool internal = false;  // a describe issued to learn the version after a VersionMismatch
    uint32_t attempts = 0;
    std::string token;        // of the attempt on the wire (empty: waiting to be (re)sent)
    int64_t deadline_ms = 0;  // reply expected by / resend at
    bool held = false;        // update waiting for the previous one of its job / a version
  };

  void send(Request& r, int64_t now_ms);
  void retryLater(Request& r, int64_t now_ms, const std::string& why);
  void fail(Request r, Status s);
  void releaseNextUpdate(const std::string& job_id, int64_t now_ms);
  std::string newToken();
  Request* findByToken(const std::string& token);
  void erase(uint64_t id);
  static Result<Execution> parseExecution(const nlohmann::json& j);

  JobsClientOptions opts_;
  JobsEvents& events_;
  std::string prefix_;
  std::mt19937_64 rng_;
  uint64_t next_id_ = 1;
  uint64_t token_counter_ = 0;
  std::string token_prefix_;
  std::deque<Request> pending_;
  std::map<std::string, int64_t> versions_;  // job id -> last known versionNumber
  JobsClientStats stats_;
};

}  // namespace evg::jobs
