#pragma once
// Sans-I/O MQTT 3.1.1 codec.
//
//   Decoder: feed() raw bytes as they arrive, then call next() until it reports "need more".
//            Every protocol violation is a Status naming the problem (Code::kInvalid), an
//            over-limit packet is Code::kTooLarge (detected from the fixed header, before the
//            body is buffered). After an error the decoder stays failed: the connection must go.
//   Encoder: free functions appending wire bytes to a std::string. encodePublishHeader() lets a
//            broker encode the fixed + variable header once and send a shared payload behind it.
//
// Thread safety: a Decoder is a plain value owned by one connection; the functions are pure.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "mqtt/packet.h"

namespace evg::mqtt {

// Largest value the 4-byte remaining-length field can carry (spec §2.2.3).
inline constexpr size_t kMaxRemainingLength = 268'435'455;

struct DecoderOptions {
  // Largest accepted remaining length (bytes after the fixed header). Bigger -> kTooLarge.
  size_t max_packet_size = 256 * 1024;
};

class Decoder {
 public:
  explicit Decoder(DecoderOptions options = {}) : options_(options) {}

  // Appends bytes to the internal buffer (copied). Cheap when called with whole socket reads.
  void feed(std::string_view bytes);

  // The next complete packet, std::nullopt when more bytes are needed, or an error. Errors are
  // sticky: later calls return the same error.
  Result<std::optional<Packet>> next();

  // feed() + next() until no packet, without copying: complete packets are decoded straight
  // from `bytes` and passed to on_packet(Packet&&), which returns false to stop (the rest is
  // dropped: the connection is closing). Only an incomplete packet at the end is copied, to be
  // completed by the next call; an idle connection keeps no buffer. Returns the (sticky) error.
  template <class F>
  Status consume(std::string_view bytes, F&& on_packet) {
    if (error_) return *error_;
    if (buffered() != 0) {  // a packet spans reads: complete it in the buffer
      feed(bytes);
      for (;;) {
        auto r = next();
        if (!r.isOk()) return r.status();
        if (!r->has_value()) return Status::ok();
        if (!on_packet(std::move(**r))) return Status::ok();
      }
    }
    while (!bytes.empty()) {
      size_t used = 0;
      auto r = parseOne(bytes, &used);
      if (!r.isOk()) return r.status();
      if (!r->has_value()) {
        feed(bytes);
        return Status::ok();
      }
      bytes.remove_prefix(used);
      if (!on_packet(std::move(**r))) return Status::ok();
    }
    return Status::ok();
  }

  // Bytes buffered but not yet consumed.
  size_t buffered() const { return spill_ ? spill_->buf.size() - spill_->pos : 0; }
  bool failed() const { return error_ != nullptr; }
  const DecoderOptions& options() const { return options_; }

 private:
  // Decodes the packet at the start of `data`: nullopt (and *used 0) when incomplete.
  Result<std::optional<Packet>> parseOne(std::string_view data, size_t* used);
  Status fail(Status s);  // records the sticky error

  // Bytes of a packet not yet complete (and, for feed()/next(), everything fed and not yet
  // decoded). Held by pointer: one per connection, and empty almost always.
  struct Spill {
    std::string buf;
    size_t pos = 0;
  };
  DecoderOptions options_;
  std::unique_ptr<Spill> spill_;
  std::unique_ptr<Status> error_;
};

// Decodes one packet body given its first fixed-header byte. `body` must be exactly the remaining
// length bytes. Exposed for tests and the fuzzer.
Result<Packet> decodeBody(uint8_t first_byte, std::string_view body);

// Checks the first fixed-header byte alone: reserved packet types 0/15, reserved flag bits, QoS 3.
Status checkFirstByte(uint8_t first_byte);

// Parses a fixed header at the start of `data`. Returns the header length (2..5) and fills
// *remaining; 0 when more bytes are needed; an error for a >4-byte remaining length.
Result<size_t> parseFixedHeader(std::string_view data, uint32_t* remaining);

// Appends the wire bytes of `packet`. Callers keep to the limits the decoder enforces (strings up
// to 65535 bytes, total under kMaxRemainingLength); encoding does not validate topics.
void encode(const Packet& packet, std::string& out);
std::string encode(const Packet& packet);

// Appends the fixed header, topic and (qos > 0) packet id of a PUBLISH whose payload of
// payload_size bytes the caller sends right after. encode(Publish) == header + payload.
void encodePublishHeader(std::string& out, std::string_view topic, uint8_t qos, bool retain,
                         bool dup, uint16_t packet_id, size_t payload_size);

// Appends a remaining-length varint (1..4 bytes).
void encodeRemainingLength(std::string& out, size_t value);

}  // namespace evg::mqtt
