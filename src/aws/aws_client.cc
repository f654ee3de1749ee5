#include "aws/aws_client.h"

#include <chrono>

namespace evg::aws {

std::pair<std::string, std::string> splitTarget(const std::string& target) {
  size_t q = target.find('?');
  if (q == std::string::npos) return {target, ""};
  return {target.substr(0, q), target.substr(q + 1)};
}

Result<Endpoint> serviceEndpoint(std::string_view service, std::string_view region,
                                 std::string_view override_url) {
  if (!override_url.empty()) return Endpoint::parse(override_url);
  if (service.empty() || region.empty()) {
    return Status::invalid("service endpoint needs a service and a region");
  }
  std::string suffix = region.rfind("cn-", 0) == 0 ? "amazonaws.com.cn" : "amazonaws.com";
  return Endpoint::parse("https://" + std::string(service) + "." + std::string(region) + "." +
                         suffix);
}

AwsClient::AwsClient(HttpClient& http, CredentialsSource& creds, ServiceConfig cfg)
    : http_(http), creds_(creds), cfg_(std::move(cfg)) {}

void AwsClient::call(HttpRequest req, HttpClient::Callback cb) {
  auto prepare = [this](HttpRequest& r) -> Status {
    auto c = creds_.currentCredentials();
    if (!c) return c.status();
    SignableRequest s;
    s.method = r.method;
    auto [path, query] = splitTarget(r.target);
    s.path = path;
    s.query = query;
    s.headers = std::move(r.headers);
    s.payload = std::move(r.body);
    SigningOptions o;
    o.region = cfg_.region;
    o.service = cfg_.service;
    o.amz_date = amzDate(std::chrono::system_clock::now());
    o.s3 = cfg_.s3;
    o.content_sha256_header = cfg_.s3;
    signRequest(s, *c, o);
    r.headers = std::move(s.headers);
    r.body = std::move(s.payload);
    return Status::ok();
  };
  http_.send(cfg_.endpoint, std::move(req), std::move(cb), std::move(prepare));
}

}  // namespace evg::aws
