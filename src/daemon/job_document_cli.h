#pragma once
// `evergreen job-document`: the operator side of fleet deployments over AWS IoT Jobs (issue 15).
// Builds an Evergreen job document (schema "evergreen/job/1", /work docs/fleet-deployments.md
// "Job document reference") from a group file and function zips:
//
//   evergreen job-document --group GROUP.json --s3 s3://BUCKET/PREFIX
//       [--function NAME:VERSION:RUNTIME:HANDLER:ZIP]... [--region R] [--deployment-id ID]
//       [--failure-policy rollback|leave] [--health-window SECONDS] [--config KEY=VALUE]...
//       [--group-artifact] [--out FILE]
//
// Flow: validate the group file (group::loadGroupFile, same rules as `evergreen deploy`), hash
// every zip (SHA-256 hex, size), name its S3 key <PREFIX>/<NAME>-<VERSION>-<sha256[0:16]>.zip
// (content-addressed: a new build never overwrites the object an in-flight job points at), put
// an AWS presigned-URL placeholder ${aws:iot:s3-presigned-url:https://s3.<region>.amazonaws.com/
// BUCKET/KEY} in the document, check the compact document is ≤ 32768 bytes (the IoT job document
// limit), then write it (--out FILE, else stdout) and print the `aws s3 cp` commands that upload
// the objects the placeholders name (stdout with --out, else stderr).
// With --group-artifact the group itself is uploaded too and referenced as "groupArtifact".

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "base/status.h"

namespace evg::daemon {

inline constexpr size_t kMaxJobDocumentBytes = 32768;  // AWS IoT CreateJob document limit
inline constexpr const char* kJobDocumentSchema = "evergreen/job/1";

struct JobFunctionSpec {
  std::string name;
  int64_t version = 0;
  std::string runtime;
  std::string handler;
  std::string zip;
};

struct JobDocumentOptions {
  std::string group_file;
  std::vector<JobFunctionSpec> functions;
  std::string s3_uri;  // s3://bucket[/prefix]
  std::string region;  // empty: from the group's function ARNs, else AWS_REGION, else global URL
  std::string deployment_id;
  std::string failure_policy = "rollback";
  int64_t health_window_s = 10;
  std::vector<std::pair<std::string, std::string>> config;
  bool group_artifact = false;
  std::string out;
};

struct S3Upload {
  std::string local_path;
  std::string s3_uri;  // s3://bucket/key
};

struct JobDocumentBuild {
  nlohmann::ordered_json document;
  std::string text;  // compact serialisation, what goes to the file
  std::vector<S3Upload> uploads;
  std::vector<std::string> warnings;
};

// "NAME:VERSION:RUNTIME:HANDLER:ZIP". RUNTIME may be the executable runtime ARN
// (arn:aws:greengrass:::runtime/function/executable) and HANDLER may hold "::" (Java), so the ZIP
// is what follows the last ':'.
Result<JobFunctionSpec> parseFunctionSpec(const std::string& spec);
// s3://bucket[/prefix] -> {bucket, prefix without surrounding '/'}.
Result<std::pair<std::string, std::string>> parseS3Uri(const std::string& uri);
// Lower-case hex SHA-256 of a file and its size.
Result<std::string> fileSha256Hex(const std::string& path, uint64_t* size);

Result<JobDocumentBuild> buildJobDocument(const JobDocumentOptions& o);

// argv[0] is "job-document".
int runJobDocumentCli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace evg::daemon
