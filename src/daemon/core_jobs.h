#pragma once
// JobAgent: fleet deployments over AWS IoT Jobs, the core's side (issue 15). Drives the sans-I/O
// jobs::JobsClient over the core's cloud connection and runs each job:
//
//   execution (start-next / notify-next) ─► handled before? (jobs-state.json: never twice)
//   ─► parse document (REJECTED naming the field) ─► IN_PROGRESS {step: download}
//   ─► check the function store (same version + hash: kept; other hash: FAILED, nothing changed)
//   ─► download artifacts over HTTPS (aws::HttpClient: CA, size bound, retries; SHA-256 checked;
//      403/400 ─► <job>/get for fresh presigned URLs, bounded) ─► importZipVersion
//   ─► journal job-inflight.json ─► Core::deploy(group, DeployMeta{source "job"})
//   ─► health window (group active, pinned functions running, no restarts / crash loop, cloud
//      connected) ─► SUCCEEDED, or FAILED {reason, rolledBack} after Core::rollback (policy
//      rollback) ─► result recorded (jobs-state.json), journal removed ─► update ─► start-next
//
// A core restarted with a journal and no recorded result rolls back to the deployment the job
// replaced (or keeps it when activation never happened) and reports FAILED: never half a group.
// Loop thread only; file and store work on the core's pool.

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "aws/http_client.h"
#include "base/asio.h"
#include "base/log.h"
#include "jobs/job_document.h"
#include "jobs/jobs_client.h"
#include "jobs/jobs_state.h"

namespace evg::daemon {

class Core;

class JobAgent final : public jobs::JobsEvents {
 public:
  JobAgent(Core& core, Log log);
  ~JobAgent() override;

  // Loads jobs-state.json and the in-flight journal (recovery of an interrupted job). After the
  // start-up activation of group.json.
  Status start();
  void stop();
  std::vector<std::string> filters() const { return client_.filters(); }
  bool onCloudMessage(const std::string& topic, const std::string& payload);
  void onCloudConnected();
  // The job being applied ("" = none): local deploy/rollback/reset are refused meanwhile.
  std::string inFlight() const;
  nlohmann::json status() const;

  // jobs::JobsEvents
  void publish(const std::string& topic, std::string payload) override;
  void onNextExecution(const jobs::Execution& e) override;
  void onNoNextExecution() override;
  void onDescribed(const std::string& job_id, Result<jobs::Execution> e) override;
  void onUpdated(const std::string& job_id, const std::string& status, Status s) override;

 private:
  struct Download {
    std::string what;  // "functions[0] Echo:3" / "groupArtifact"
    int index = -1;    // function index; -1 = group artifact
    jobs::Artifact artifact;
    std::string file;
  };
  struct Job {
    jobs::Execution exec;
    jobs::JobDocument doc;
    nlohmann::json raw_doc;
    std::string digest;
    std::string step;
    std::vector<Download> downloads;
    size_t next_download = 0;
    int refreshes = 0;
    bool waiting_refresh = false;
    bool checking = false;  // a <job>/get asking whether the job is still IN_PROGRESS
    bool canceled =
        false;  // IN_PROGRESS refused (job canceled / execution gone): stop before activating
    std::optional<int64_t> previous_history_id;
    std::string previous_group_hash;
    std::optional<int64_t> history_id;
    std::chrono::steady_clock::time_point doc_arrived;
    std::chrono::steady_clock::time_point health_started;
    std::chrono::steady_clock::time_point health_deadline;
    std::map<std::string, uint32_t> restarts_at_activation;
    std::chrono::steady_clock::time_point download_started, download_done;
  };

  int64_t nowMs() const;
  void pump();  // re-arms the timer on the client's next deadline
  void begin(const jobs::Execution& e);
  void checkStore();
  void downloadNext();
  void onDownloaded(Result<aws::HttpResponse> r);
  void importAll();
  void activate(std::optional<nlohmann::json> group_from_artifact);
  void healthTick();
  void fail(const std::string& step, const std::string& reason);
  // Records the terminal result (pool), removes the journal, sends the update.
  void finish(const std::string& status, nlohmann::json details, bool send = true);
  // A canceled job is dropped before activation; true when it was.
  bool abandonIfCanceled();
  // The next execution changed while a job runs: is ours still live? (<job>/get)
  void checkStillLive();
  void report(const jobs::HandledExecution& h, int64_t expected_version);
  void recover(const jobs::InflightJob& j);
  nlohmann::json baseDetails(const std::string& step) const;

  Core& core_;
  Log log_;
  jobs::JobsClient client_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer health_timer_;
  std::unique_ptr<aws::HttpClient> http_;
  std::string state_path_;
  std::string inflight_path_;
  std::string downloads_dir_;
  jobs::JobsState state_;
  std::optional<Job> job_;
  bool recovering_ = false;
  std::string recovering_job_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  struct Stats {
    uint64_t executions = 0, succeeded = 0, failed = 0, rejected = 0, duplicates = 0, downloads = 0,
             url_refreshes = 0, recovered = 0;
    nlohmann::json last;  // timings of the last job (document -> result, download, window)
  } stats_;
};

}  // namespace evg::daemon
