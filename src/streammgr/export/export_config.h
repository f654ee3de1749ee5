#pragma once
// Sans-I/O: the stream manager's `exportDefinition` (ggv1-protocol.md §6.4, the CBOR map decoded
// into JSON with its wire keys) parsed and validated into one ExporterConfig per exporter.
// The limits are the genuine SDKs' client-side validation (stream_manager/data): identifier
// 1..255 of [\w ,.\-_], batchSize per kind (Kinesis/HTTP 1..500, IoT Analytics 1..100,
// SiteWise 1..10), batchIntervalMillis 60000..9223372036854, priority 1..10,
// startSequenceNumber >= 0, iotMsgIdPrefix <= 32 characters, S3
// sizeThresholdForMultipartUploadBytes >= 5242880, statusLevel 0..4. Errors are Invalid and name
// the field: "exportDefinition.kinesis[0].batchSize: 501 is above the maximum 500".

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace evg::streammgr::exporter {

enum class Kind { kKinesis, kIotAnalytics, kIotSitewise, kS3Task, kHttp };
std::string_view kindName(Kind k);  // the wire key: "kinesis", "iotAnalytics", "IotSitewise", ...

enum class HttpFormat { kRawNotBatched = 0, kJsonBatched = 1 };
// StatusLevel of §6.4: ERROR=0, WARN=1, INFO=2, DEBUG=3, TRACE=4.
enum class StatusLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3, kTrace = 4 };

inline constexpr int64_t kMinBatchIntervalMs = 60000;
inline constexpr int64_t kMaxBatchIntervalMs = 9223372036854;
inline constexpr int64_t kMinMultipartThreshold = 5242880;
inline constexpr size_t kMaxIotMsgIdPrefix = 32;
inline constexpr int kLowestPriority = 10;

struct ExporterConfig {
  Kind kind = Kind::kKinesis;
  std::string identifier;
  size_t batchSize = 1;            // per kind default = the kind's maximum
  int64_t batchIntervalMs = 0;     // 0 = send whatever is available at once
  int priority = kLowestPriority;  // 1 = highest
  std::optional<int64_t> startSequenceNumber;
  bool disabled = false;
  // Kinesis
  std::string kinesisStreamName;
  // IoT Analytics
  std::string iotChannel;
  std::string iotMsgIdPrefix;
  // HTTP
  std::string uri;
  HttpFormat httpFormat = HttpFormat::kRawNotBatched;
  // S3 tasks
  int64_t multipartThresholdBytes = kMinMultipartThreshold;
  std::optional<StatusLevel> statusLevel;  // set when statusConfig names a status stream
  std::string statusStreamName;

  bool operator==(const ExporterConfig&) const = default;
};

// Null or absent (an empty object) = no exporters. Identifiers must be unique within the stream.
Result<std::vector<ExporterConfig>> parseExportDefinition(const nlohmann::json& def);

}  // namespace evg::streammgr::exporter
