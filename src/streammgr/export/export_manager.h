#pragma once
// ExportManager: the stream manager's exporters (ExportHost of stream_access.h). Runs on the
// core's Asio loop; pulls messages from the store through StreamAccess and sends them upstream
// with aws::AwsClient (SigV4, credentials from an aws::CredentialsSource) or, for the HTTP
// exporter, plain aws::HttpClient requests.
//
// One pipeline per (stream, exporter identifier):
//   progress = StreamAccess::loadProgress, else startSequenceNumber, else the oldest message;
//   read a batch (batchSize, ExportOptions::maxBatchBytes) → send when it is full, or at once
//   when batchIntervalMillis is not set, or when batchIntervalMillis passed since the ingest
//   time of its first message → the service's verdict per entry → progress advances over the
//   contiguous prefix of accepted (or permanently skipped) messages and is saved with
//   saveProgress → failed entries alone are sent again after a backoff (retryInitialMs doubling
//   to retryMaxMs), as is the whole batch when the service is unreachable or refuses it.
// Across pipelines: priority (1 first) decides who gets the bandwidth (maxBandwidthBytesPerSec,
// STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH) and the request slots (maxInFlight,
// STREAM_MANAGER_EXPORTER_THREAD_POOL_SIZE); each pipeline has at most one request in flight,
// which keeps its messages in order. `disabled` pipelines are kept (with their progress) but
// never send.

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "aws/aws_client.h"
#include "aws/http_client.h"
#include "base/asio.h"
#include "base/log.h"
#include "streammgr/export/export_config.h"
#include "streammgr/export/exporters.h"
#include "streammgr/export/s3_task.h"
#include "streammgr/export/stream_access.h"

namespace evg::streammgr::exporter {

struct ExportOptions {
  std::string region = "us-east-1";
  // Endpoint overrides by service: "kinesis", "iotanalytics", "iotsitewise", "s3" → URL
  // (https://host[:port] or http:// for emulators). Default https://<service>.<region>.
  // amazonaws.com (SiteWise: https://data.iotsitewise.<region>.amazonaws.com).
  std::map<std::string, std::string> endpoints;
  uint64_t maxBandwidthBytesPerSec = 0;  // 0 = unlimited
  size_t maxInFlight = 5;                // requests in flight over all exporters
  size_t maxBatchBytes = 4u << 20;       // payload bytes per batch
  uint32_t retryInitialMs = 1000;
  uint32_t retryMaxMs = 60000;
  S3Limits s3;
};

class ExportManager : public ExportHost {
 public:
  // `store`, `http`, `creds` are not owned and must outlive the manager. Invalid for a bad
  // endpoint override.
  static Result<std::unique_ptr<ExportManager>> create(boost::asio::io_context& io,
                                                       StreamAccess& store, aws::HttpClient& http,
                                                       aws::CredentialsSource& creds,
                                                       ExportOptions opts, Log log);
  ~ExportManager() override;

  Status configure(const std::string& stream, const nlohmann::json& exportDefinition) override;
  void removeStream(const std::string& stream) override;
  void onAppended(const std::string& stream, int64_t sequenceNumber) override;
  std::vector<ExportStatus> statuses(const std::string& stream) const override;

  // Stops sending (requests in flight are forgotten). Idempotent.
  void stop();
  size_t inFlight() const { return in_flight_; }
  size_t pipelines() const;

  struct Pipeline;

 private:
  ExportManager(boost::asio::io_context& io, StreamAccess& store, aws::HttpClient& http,
                aws::CredentialsSource& creds, ExportOptions opts, Log log);
  struct Outcome;
  void schedulePump();
  void pump();
  void arm(std::chrono::steady_clock::time_point at);
  void fill(Pipeline& p);
  void send(const std::shared_ptr<Pipeline>& p, std::vector<size_t> idx);
  void sendS3(const std::shared_ptr<Pipeline>& p, size_t i, std::function<void(Outcome)> finish);
  void onOutcome(Pipeline& p, const std::vector<size_t>& idx, const Outcome& o);
  void backoff(Pipeline& p, const std::string& why);
  void appendStatus(Pipeline& p, TaskStatus s, const nlohmann::json& def, int64_t seq,
                    const std::string& message);
  void rebuildOrder();

  boost::asio::io_context& io_;
  StreamAccess& store_;
  aws::HttpClient& http_;
  ExportOptions opts_;
  Log log_;
  std::unique_ptr<aws::AwsClient> kinesis_, iota_, sitewise_, s3_;
  std::map<std::string, std::vector<std::shared_ptr<Pipeline>>> streams_;
  std::vector<std::shared_ptr<Pipeline>> order_;  // by priority
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point timer_at_{};
  bool timer_armed_ = false;
  bool pump_posted_ = false;
  bool stopped_ = false;
  size_t in_flight_ = 0;
  std::chrono::steady_clock::time_point bw_free_{};
  std::mt19937_64 rng_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace evg::streammgr::exporter
