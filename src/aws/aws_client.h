#pragma once
// AwsClient: signed requests to one AWS service (or an AWS-compatible endpoint) — SigV4 header
// signing (aws/sigv4.h) on top of HttpClient (aws/http_client.h), re-signed on every attempt so a
// retry carries a fresh date and the newest credentials.
//
//   CredentialsSource ──current()──▶ AwsClient::call ──Prepare: sign──▶ HttpClient ──▶ service
//
// This is the narrow interface the stream manager's exporters (Kinesis, S3, IoT Analytics) build
// on: fill an HttpRequest (method, target, headers such as X-Amz-Target / Content-Type, body) and
// get the HttpResponse back; error bodies are the service's.
//
// Threading: the io_context's thread, like HttpClient.

#include <functional>
#include <string>
#include <string_view>

#include "aws/http_client.h"
#include "aws/sigv4.h"
#include "base/status.h"

namespace evg::aws {

// Supplies the credentials to sign with, synchronously (a cache; see src/tes). An error (none
// yet, expired) ends the request with that status before anything is sent.
class CredentialsSource {
 public:
  virtual ~CredentialsSource() = default;
  virtual Result<Credentials> currentCredentials() = 0;
};

struct ServiceConfig {
  std::string service;  // signing name: "kinesis", "s3", "iotanalytics", ...
  std::string region;   // "us-east-1"
  Endpoint endpoint;    // see serviceEndpoint()
  bool s3 = false;      // S3 signing rules (no path normalization, x-amz-content-sha256)
};

// The endpoint of `service` in `region`: `override_url` when not empty (compatible services,
// emulators, tests), else https://<service>.<region>.amazonaws.com (amazonaws.com.cn for cn-*
// regions). Invalid for a bad override or empty service/region.
Result<Endpoint> serviceEndpoint(std::string_view service, std::string_view region,
                                 std::string_view override_url = "");

class AwsClient {
 public:
  // `http` and `creds` are not owned and must outlive the client.
  AwsClient(HttpClient& http, CredentialsSource& creds, ServiceConfig cfg);

  // Signs (every attempt) and sends `req` to the service endpoint. `cb` as HttpClient::send.
  void call(HttpRequest req, HttpClient::Callback cb);
  const ServiceConfig& config() const { return cfg_; }

 private:
  HttpClient& http_;
  CredentialsSource& creds_;
  ServiceConfig cfg_;
};

// Splits "/path?query" into its two halves (query without '?').
std::pair<std::string, std::string> splitTarget(const std::string& target);

}  // namespace evg::aws
