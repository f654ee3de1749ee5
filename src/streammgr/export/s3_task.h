#pragma once
// S3 export tasks (`s3TaskExecutor`): each message of the stream is an S3ExportTaskDefinition JSON
// {inputUrl: "file:///abs/path", bucket, key, userMetadata} naming a local file to upload.
//
// Sans-I/O part: parseS3Task, the S3 REST requests (path-style: /<bucket>/<key>, so emulators
// and S3-compatible services work; signed by aws::AwsClient with S3 rules and
// x-amz-content-sha256), parseUploadId, and the StatusMessage JSON appended to the status
// stream. S3Upload runs one task: PutObject below the multipart threshold, else
// CreateMultipartUpload → UploadPart × n (sequential, one part in memory) →
// CompleteMultipartUpload (AbortMultipartUpload when it fails).

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "aws/aws_client.h"
#include "base/status.h"
#include "streammgr/export/export_config.h"

namespace evg::streammgr::exporter {

struct S3Task {
  nlohmann::json definition;  // as received (normalised), echoed in status messages
  std::string path;           // local file from inputUrl
  std::string bucket;
  std::string key;
  std::vector<std::pair<std::string, std::string>> userMetadata;
};

// Invalid naming the problem (not JSON, missing bucket/key/inputUrl, not a file:// URL, bad
// bucket name).
Result<S3Task> parseS3Task(std::string_view payload);

std::string s3ObjectPath(const S3Task& t);  // "/bucket/uri-encoded/key"
aws::HttpRequest s3PutObject(const S3Task& t, std::string body);
aws::HttpRequest s3CreateMultipartUpload(const S3Task& t);
Result<std::string> parseUploadId(const aws::HttpResponse& r);
aws::HttpRequest s3UploadPart(const S3Task& t, const std::string& uploadId, int partNumber,
                              std::string body);
aws::HttpRequest s3CompleteMultipartUpload(const S3Task& t, const std::string& uploadId,
                                           const std::vector<std::string>& etags);
aws::HttpRequest s3AbortMultipartUpload(const S3Task& t, const std::string& uploadId);

// StatusMessage (§6.4) values.
enum class TaskStatus { kSuccess = 0, kFailure = 1, kInProgress = 2, kWarning = 3, kCanceled = 4 };
// The level a status is reported at: Failure = ERROR, Warning = WARN, the rest INFO.
StatusLevel levelOf(TaskStatus s);
std::string statusMessageJson(TaskStatus status, const nlohmann::json& taskDefinition,
                              const std::string& exportIdentifier, const std::string& streamName,
                              int64_t sequenceNumber, const std::string& message, int64_t nowMs);

struct S3Outcome {
  enum Kind { kDone, kFailed, kRetry } kind = kDone;
  std::string message;  // failure/retry reason
};

struct S3Limits {
  int64_t multipartThresholdBytes = kMinMultipartThreshold;
  int64_t minPartBytes = kMinMultipartThreshold;  // part size (S3 minimum 5 MiB)
  int64_t maxSinglePutBytes = 16ll << 20;         // larger files always go multipart
};

// Uploads `task`; `done` runs once on the AwsClient's loop (never if the client is shut down).
void runS3Upload(aws::AwsClient& s3, S3Task task, S3Limits limits,
                 std::function<void(S3Outcome)> done);

}  // namespace evg::streammgr::exporter
