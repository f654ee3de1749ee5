// libFuzzer target: arbitrary bytes -> evg::parseJson -> group::parseGroup (the path of
// `evergreen validate-group`/`deploy` and of a deploy over the control socket).
// Properties beyond "no crash / no sanitizer report":
//   - a refusal is an Invalid status with a message;
//   - an accepted group round-trips: parseGroup(toJson(g)) is accepted and writes back the same
//     JSON (toJson is the group file form the core stores).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "base/json.h"
#include "group/group.h"

namespace {
void check(bool cond) {
  if (!cond) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto j = evg::parseJson(text);
  if (!j) {
    check(j.status().code() == evg::Code::kInvalid && !j.status().message().empty());
    return 0;
  }
  auto g = evg::group::parseGroup(*j);
  if (!g) {
    check(!g.status().message().empty());
    return 0;
  }
  nlohmann::json out = evg::group::toJson(*g);
  auto again = evg::group::parseGroup(out);
  check(again.isOk());
  check(evg::group::toJson(*again) == out);
  return 0;
}
