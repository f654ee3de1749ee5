#pragma once
// AWS Signature Version 4 (SigV4), sans-I/O: canonical request, string to sign, signature, and
// the two ways of attaching it — the Authorization header (header variant) and a pre-signed query
// string (query variant). Unsigned-payload streaming and chunked signing are not implemented.
//
// Reference: AWS General Reference, "Signature Version 4 signing process", and the published
// aws-sig-v4-test-suite (reproduced in sigv4_test.cc).
//
// Inputs are what goes on the wire: `path` is the request path as sent (already percent-encoded
// where needed), `query` the raw query string without '?'. For every service except S3 the
// canonical URI is the normalized path (dot segments removed, repeated slashes collapsed) encoded
// once more ("double encoding"); for S3 (SigningOptions::s3 = true) the path is used as sent.
//
// Thread-safe (pure functions).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evg::aws {

// Temporary or long-term AWS credentials. session_token is empty for long-term keys.
struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct SignableRequest {
  std::string method = "GET";
  std::string path = "/";  // as sent on the wire
  std::string query;       // raw query string without '?' ("" = none)
  HeaderList headers;      // as sent; must contain Host
  std::string payload;     // body bytes (hashed with SHA-256)
};

struct SigningOptions {
  std::string region;    // e.g. us-east-1
  std::string service;   // signing name: kinesis, s3, iot, ...
  std::string amz_date;  // YYYYMMDD'T'HHMMSS'Z'; empty: taken from the X-Amz-Date header
  bool s3 = false;       // S3 rules: no path normalization, no double encoding
  // Adds x-amz-content-sha256: <payload hash> (required by S3) before signing.
  bool content_sha256_header = false;
  // true: X-Amz-Security-Token is added before signing and signed (what the AWS SDKs do);
  // false: appended after signing, unsigned (some services, e.g. IoT websockets, want that).
  bool sign_security_token = true;
};

// Everything computed while signing (exposed for tests and debugging; contains no secret).
struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;    // "host;x-amz-date"
  std::string credential_scope;  // "20150830/us-east-1/service/aws4_request"
  std::string signature;         // lowercase hex
  std::string authorization;     // full Authorization header value
};

// "20150830T123600Z" for a point in time (UTC).
std::string amzDate(std::chrono::system_clock::time_point t);
// Lowercase hex SHA-256 of data.
std::string sha256Hex(std::string_view data);
// RFC 3986 percent-encoding of everything but unreserved characters (A-Z a-z 0-9 - _ . ~);
// '/' is kept when keep_slash (S3 object keys in paths).
std::string uriEncode(std::string_view s, bool keep_slash = false);

// The canonical request / string to sign / signature of `req` as it stands (headers are not
// modified; the date comes from opts.amz_date or the request's X-Amz-Date header). Every header
// of the request is signed except Authorization, User-Agent and Expect. The payload hash is the
// value of an x-amz-content-sha256 header when present (e.g. UNSIGNED-PAYLOAD), else
// SHA-256(payload).
Signature computeSignature(const SignableRequest& req, const Credentials& creds,
                           const SigningOptions& opts);

// Header variant: adds X-Amz-Date (opts.amz_date, must be set), X-Amz-Security-Token (when the
// credentials have one), x-amz-content-sha256 (when asked) and Authorization to req.headers
// (replacing earlier values of those headers). Returns the computed signature parts.
Signature signRequest(SignableRequest& req, const Credentials& creds, const SigningOptions& opts);

// Query variant: returns the query string to send (the request's own parameters plus
// X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders,
// X-Amz-Security-Token when present, and X-Amz-Signature). The request's headers (at least
// Host) are signed; the payload hash is that of req.payload, or the value of an
// x-amz-content-sha256 header when the request has one. expires_s: 1-604800.
std::string presignQuery(const SignableRequest& req, const Credentials& creds,
                         const SigningOptions& opts, uint32_t expires_s);

}  // namespace evg::aws
