#pragma once
// Sans-I/O pieces of the token exchange service: the AWS IoT credentials provider's answer, the
// container-credentials JSON the AWS SDKs expect from E9, ISO-8601 times, and the refresh policy.

#include <cstdint>
#include <string>
#include <string_view>

#include "aws/sigv4.h"
#include "base/status.h"

namespace evg::tes {

struct TemporaryCredentials {
  aws::Credentials creds;
  int64_t expiration_ms = 0;  // ms since the epoch (UTC)
};

// The body of `GET /role-aliases/<alias>/credentials`:
// {"credentials":{"accessKeyId","secretAccessKey","sessionToken","expiration":"2026-...Z"}}.
// Invalid naming the missing/bad member (never quoting secret values).
Result<TemporaryCredentials> parseProviderResponse(std::string_view body);

// What E9 answers: {"AccessKeyId","SecretAccessKey","Token","Expiration"} (ECS / container
// credentials shape read by boto3, aws-sdk v2/v3 and the AWS SDK for Java).
std::string containerCredentialsJson(const TemporaryCredentials& c);

// "2026-12-04T18:15:50Z" <-> ms since the epoch. Accepts fractional seconds and a "+00:00"
// suffix; other offsets are converted.
Result<int64_t> parseIso8601Ms(std::string_view s);
std::string iso8601(int64_t ms);

// When to refresh credentials fetched at `fetched_ms` that expire at `expiry_ms`: `margin_ms`
// before expiry; short-lived credentials (lifetime <= 2 * margin, e.g. a 15-minute role alias
// with the default 15-minute margin, or test credentials) at half their lifetime.
int64_t refreshAtMs(int64_t fetched_ms, int64_t expiry_ms, int64_t margin_ms);

}  // namespace evg::tes
