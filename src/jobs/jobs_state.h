#pragma once
// Durable job bookkeeping of one core (DIR/var/deployments/):
//   jobs-state.json     the executions this core has handled (job id + execution number, the
//                       document digest without presign query strings, the final status and
//                       statusDetails, whether the cloud accepted that report). A redelivered or
//                       re-signed execution found here is never applied again: its recorded
//                       result is re-reported if the cloud has not accepted it yet.
//   job-inflight.json   the journal of the job being applied, written before activation and
//                       removed once its result is recorded: after a crash the core knows which
//                       job was interrupted and what it replaced (src/daemon/core_jobs.cc).
// Both written atomically (temp file, fsync, rename). Blocking file I/O: call off the loop.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace evg::jobs {

struct HandledExecution {
  std::string job_id;
  int64_t execution_number = 0;
  std::string digest;  // documentDigest()
  std::string status;  // SUCCEEDED | FAILED | REJECTED
  nlohmann::json details = nlohmann::json::object();
  bool reported = false;  // the cloud accepted the terminal update
  std::string time;
};

struct InflightJob {
  std::string job_id;
  int64_t execution_number = 0;
  std::string digest;
  std::string deployment_id;
  bool rollback_on_failure = true;
  std::optional<int64_t> previous_history_id;  // the deployment active before the job
  std::string previous_group_hash;
  std::string step;  // download | activate | health
  std::string time;
};

class JobsState {
 public:
  // Missing file: empty. Unreadable: Corruption naming the file.
  static Result<JobsState> load(const std::string& path, size_t max_entries = 200);
  Status save() const;

  const HandledExecution* find(const std::string& job_id, int64_t execution_number) const;
  // Adds or replaces; beyond max_entries the oldest records are dropped.
  void put(HandledExecution e);
  bool markReported(const std::string& job_id, int64_t execution_number);
  const std::vector<HandledExecution>& all() const { return entries_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  size_t max_entries_ = 200;
  std::vector<HandledExecution> entries_;
};

Status writeJsonAtomic(const std::string& path, const nlohmann::json& j);
Result<std::optional<InflightJob>> loadInflight(const std::string& path);
Status saveInflight(const std::string& path, const InflightJob& j);
Status removeInflight(const std::string& path);
std::string utcNow();

}  // namespace evg::jobs
