// libFuzzer target: arbitrary bytes -> mqtt::Decoder, fed in fuzzer-chosen chunk sizes.
// Properties checked beyond "no crash / no sanitizer report":
//   - every decoded packet re-encodes to bytes that decode to an equal packet;
//   - an error is sticky and the decoder never reports a packet after it.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mqtt/codec.h"

namespace {

void check(bool cond) {
  if (!cond) std::abort();
}

void roundTrip(const evg::mqtt::Packet& p) {
  std::string wire = evg::mqtt::encode(p);
  evg::mqtt::Decoder d(evg::mqtt::DecoderOptions{wire.size() + 16});
  d.feed(wire);
  auto r = d.next();
  check(r.isOk() && r->has_value());
  check(**r == p);
  check(d.buffered() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // First byte: chunk size (1..256) used to feed the rest.
  const size_t chunk = static_cast<size_t>(data[0]) + 1;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  evg::mqtt::Decoder decoder(evg::mqtt::DecoderOptions{4096});
  bool failed = false;
  while (!rest.empty()) {
    const size_t n = rest.size() < chunk ? rest.size() : chunk;
    decoder.feed(rest.substr(0, n));
    rest.remove_prefix(n);
    while (true) {
      auto r = decoder.next();
      if (!r.isOk()) {
        check(!r.status().message().empty());
        failed = true;
        break;
      }
      check(!failed);
      if (!r->has_value()) break;
      roundTrip(**r);
    }
    if (failed) {
      check(decoder.failed());
      check(!decoder.next().isOk());
      break;
    }
  }
  return 0;
}
