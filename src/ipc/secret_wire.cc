#include "ipc/secret_wire.h"

#include <nlohmann/json.hpp>

namespace evg::ipc {

int secretErrorStatus(SecretError e) {
  switch (e) {
    case SecretError::kBadRequest:
      return 400;
    case SecretError::kUnauthorized:
      return 401;
    case SecretError::kNotFound:
      return 404;
    case SecretError::kInternal:
      return 500;
  }
  return 500;
}

std::string secretErrorBody(SecretError e, std::string_view message) {
  static constexpr std::string_view kSuccessKey = "CreatedDate";
  std::string m(message);
  for (size_t pos = m.find(kSuccessKey); pos != std::string::npos;
       pos = m.find(kSuccessKey, pos + 1)) {
    m.replace(pos, kSuccessKey.size(), "Created Date");
  }
  return nlohmann::json{{"Status", secretErrorStatus(e)}, {"Message", std::move(m)}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace evg::ipc
