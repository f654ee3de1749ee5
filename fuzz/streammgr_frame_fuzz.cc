// libFuzzer target: stream manager frame + CBOR decoding (src/streammgr). The input is the byte
// stream of one client connection (version byte, Connect frame, requests) fed to a Service over
// a Memory-only store in random-sized chunks; the decoded frames also go straight through the
// CBOR decoder and the §6.4 validators. Must never crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string>

#include "streammgr/protocol.h"
#include "streammgr/service.h"
#include "streammgr/store.h"

using namespace evg::streammgr;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // 1. Raw decoder + CBOR + validators.
  {
    FrameDecoder d(1 << 16);
    d.feed(in);
    for (int i = 0; i < 64; ++i) {
      auto f = d.next();
      if (!f || !f->has_value()) break;
      auto j = decodeCbor((*f)->payload);
      if (!j) continue;
      if (const auto* def = field(*j, "definition")) (void)parseDefinition(*def);
      if (const auto* o = field(*j, "readMessagesOptions")) (void)parseReadOptions(*o, 1000);
      (void)encodeCbor(*j);
    }
  }
  // 2. A whole connection through the Service (Memory streams only: no files).
  StreamStore store(StoreOptions{}, evg::Log());
  ServiceOptions so;
  so.authenticate = false;
  so.max_frame_bytes = 1 << 16;
  so.max_message_bytes = 4096;
  so.max_read_timeout_ms = 1000;
  size_t sent = 0;
  Callbacks cb;
  cb.send = [&](ConnId, std::string b) { sent += b.size(); };
  cb.close = [](ConnId, const std::string&) {};
  Service svc(store, so, cb, evg::Log());
  store.setAppendListener([&](const std::string& s) { svc.onAppended(s); });
  svc.opened(1);
  size_t pos = 0;
  size_t step = size > 0 ? (data[0] % 7) + 1 : 1;
  while (pos < in.size()) {
    size_t n = std::min(step, in.size() - pos);
    svc.data(1, in.substr(pos, n));
    pos += n;
    step = step * 3 % 97 + 1;
  }
  svc.tick(Clock::now() + std::chrono::hours(1));
  svc.closed(1);
  return 0;
}
