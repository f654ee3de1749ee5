#pragma once
// Transport-agnostic HTTP request/response values exchanged between the Beast server and the
// sans-I/O IpcCore, plus the single Status -> HTTP mapping of the IPC protocol.

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace evg::ipc {

inline constexpr std::string_view kHeaderAuthorization = "authorization";
inline constexpr std::string_view kHeaderClientContext = "x-amz-client-context";
inline constexpr std::string_view kHeaderInvocationType = "x-amz-invocation-type";
inline constexpr std::string_view kHeaderInvocationId = "x-amz-invocationid";
inline constexpr std::string_view kHeaderFunctionError = "x-amz-function-error";

struct HttpRequest {
  std::string method;  // "GET", "POST", "PUT", ...
  std::string path;    // target without the query string, not percent-decoded (ARNs are raw)
  std::map<std::string, std::string, std::less<>> headers;  // keys lower-case
  std::string body;

  // Header value or nullptr when absent. `name` must be lower-case.
  const std::string* header(std::string_view name) const {
    auto it = headers.find(name);
    return it == headers.end() ? nullptr : &it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // exact spellings
  std::string body;

  const std::string* header(std::string_view name) const;  // case-insensitive lookup
};

// The one place where evg::Status becomes an IPC HTTP status:
// Invalid 400, Unauthorized 401, Forbidden 403, NotFound 404, Conflict 409, TooLarge 413,
// Retry 429, Unsupported 501, Busy 503, Timeout 504, Io/Corruption/Internal 500.
int toHttpStatus(const Status& st);

// Error response: status from toHttpStatus, JSON body
// {"errorType":"<code name>","errorMessage":"<message>"}.
HttpResponse errorResponse(const Status& st);

}  // namespace evg::ipc
