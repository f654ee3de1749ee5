#pragma once
// Standard base64 (RFC 4648 alphabet, padded): X-Amz-Client-Context (ipc), SecretBinary (secrets),
// exporter payloads (streammgr/export).

#include <string>
#include <string_view>

#include "base/status.h"

namespace evg {

std::string base64Encode(std::string_view data);
// Accepts padded or unpadded input; whitespace or other characters are an error.
Result<std::string> base64Decode(std::string_view text);

}  // namespace evg
