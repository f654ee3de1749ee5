// libFuzzer target: a sequence of shadow requests (get/update/delete on a few things, from the
// SDK, MQTT and cloud entry points) against one ShadowService with an in-memory store.
// Input: records of [op byte][length byte][payload...]. Properties beyond "no crash":
//   - every reply is a JSON object; a rejection carries {"code": <its code>, "message": ...};
//   - an accepted update/delete leaves document() consistent: a versioned object after an
//     update, nothing after a delete;
//   - every published payload is a JSON object.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/json.h"
#include "shadow/shadow_service.h"
#include "shadow/shadow_store.h"

namespace {

using evg::shadow::Origin;
using evg::shadow::ShadowOp;

void check(bool cond) {
  if (!cond) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  evg::shadow::MemoryShadowStore store;
  evg::shadow::ShadowServiceOptions opts;
  opts.limits.max_document_bytes = 8 * 1024;
  opts.max_things = 4;
  int64_t now = 1700000000;
  opts.now_s = [&now] { return now++; };
  evg::shadow::ShadowService svc(
      opts, store,
      [](const std::string&, const std::string& payload) {
        auto j = evg::parseJsonOrDiscarded(payload);
        check(!j.is_discarded() && j.is_object());
      },
      evg::Log());
  static const char* kThings[] = {"a", "b", "thing-c", "d"};
  size_t i = 0;
  while (i + 2 <= size) {
    const uint8_t op = data[i];
    size_t len = data[i + 1];
    i += 2;
    if (len > size - i) len = size - i;
    std::string_view payload(reinterpret_cast<const char*>(data + i), len);
    i += len;
    const std::string thing = kThings[(op >> 2) & 3];
    const ShadowOp sop = static_cast<ShadowOp>((op & 3) % 3);
    if ((op & 0x30) == 0x30) {
      // MQTT entry point with a topic built from the payload's first bytes.
      std::string topic =
          "$aws/things/" + thing + "/shadow/" + std::string(evg::shadow::shadowOpName(sop));
      svc.handleMqtt(topic, payload);
      continue;
    }
    const Origin origin = (op & 0x40) ? Origin::kCloud : (op & 0x80) ? Origin::kMqtt : Origin::kSdk;
    auto r = svc.handle(thing, sop, payload, origin);
    auto j = evg::parseJsonOrDiscarded(r.payload);
    check(!j.is_discarded() && j.is_object());
    if (!r.accepted) {
      check(j.contains("code") && j["code"] == r.code && j.contains("message"));
      continue;
    }
    auto doc = svc.document(thing);
    if (sop == ShadowOp::kDelete) check(!doc.has_value());
    if (sop == ShadowOp::kUpdate) check(doc.has_value() && doc->is_object());
  }
  return 0;
}
