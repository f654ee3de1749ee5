#include "ipc/http_types.h"

#include <strings.h>

#include <nlohmann/json.hpp>

namespace evg::ipc {

const std::string* HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return &v;
  }
  return nullptr;
}

int toHttpStatus(const Status& st) {
  switch (st.code()) {
    case Code::kOk:
      return 200;
    case Code::kInvalid:
      return 400;
    case Code::kUnauthorized:
      return 401;
    case Code::kForbidden:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kConflict:
      return 409;
    case Code::kTooLarge:
      return 413;
    case Code::kRetry:
      return 429;
    case Code::kUnsupported:
      return 501;
    case Code::kBusy:
      return 503;
    case Code::kTimeout:
      return 504;
    case Code::kIo:
    case Code::kCorruption:
    case Code::kInternal:
      return 500;
  }
  return 500;
}

HttpResponse errorResponse(const Status& st) {
  HttpResponse r;
  r.status = toHttpStatus(st);
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = nlohmann::json{{"errorType", std::string(codeName(st.code()))},
                          {"errorMessage", st.message()}}
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

}  // namespace evg::ipc
