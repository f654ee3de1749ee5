#include "base/status.h"

namespace evg {

std::string_view codeName(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kInvalid: return "Invalid";
    case Code::kNotFound: return "NotFound";
    case Code::kUnauthorized: return "Unauthorized";
    case Code::kForbidden: return "Forbidden";
    case Code::kTimeout: return "Timeout";
    case Code::kRetry: return "Retry";
    case Code::kBusy: return "Busy";
    case Code::kUnsupported: return "Unsupported";
    case Code::kIo: return "Io";
    case Code::kCorruption: return "Corruption";
    case Code::kConflict: return "Conflict";
    case Code::kTooLarge: return "TooLarge";
    case Code::kInternal: return "Internal";
  }
  return "Unknown";
}

std::string Status::toString() const {
  if (isOk()) return "OK";
  std::string s(codeName(code_));
  s += ": ";
  s += message_;
  return s;
}

}  // namespace evg
