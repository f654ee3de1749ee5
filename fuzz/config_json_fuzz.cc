// libFuzzer target: arbitrary bytes -> evg::parseJson -> config::parseConfig (config.json as the
// core and every CLI command read it). Refusals must be Invalid/Unsupported statuses with a
// message; an accepted config must keep its invariants (ports in range, non-empty thing name).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "base/json.h"
#include "config/config.h"

namespace {
void check(bool cond) {
  if (!cond) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto j = evg::parseJson(text);
  if (!j) {
    check(!j.status().message().empty());
    return 0;
  }
  auto c = evg::config::parseConfig(*j, "/fuzz-root");
  if (!c) {
    check(!c.status().message().empty());
    check(c.status().code() == evg::Code::kInvalid || c.status().code() == evg::Code::kUnsupported);
    return 0;
  }
  check(!c->core_thing.thing_name.empty());
  check(c->core_thing.gg_mqtt_port >= 1024 && c->core_thing.gg_mqtt_port <= 65535);
  check(c->evergreen.ipc.max_connections >= 1);
  return 0;
}
