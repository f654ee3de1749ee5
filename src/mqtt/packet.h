#pragma once
// MQTT 3.1.1 control packets as plain values (spec §2-§3). One struct per packet type, gathered in
// the std::variant `Packet`. The codec (codec.h) turns bytes into these and back; nothing here
// does I/O.
//
// PUBLISH payloads are held by std::shared_ptr<const std::string> so one received payload can be
// fanned out to many subscribers without copying.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace evg::mqtt {

enum class PacketType : uint8_t {
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
};

// CONNACK return codes (spec §3.2.2.3).
inline constexpr uint8_t kConnackAccepted = 0;
inline constexpr uint8_t kConnackBadProtocol = 1;
inline constexpr uint8_t kConnackIdentifierRejected = 2;
inline constexpr uint8_t kConnackServerUnavailable = 3;
inline constexpr uint8_t kConnackBadUserPass = 4;
inline constexpr uint8_t kConnackNotAuthorized = 5;
// SUBACK failure return code.
inline constexpr uint8_t kSubackFailure = 0x80;
// The only protocol level this codec decodes fully (MQTT 3.1.1).
inline constexpr uint8_t kProtocolLevel311 = 4;

struct Will {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  bool operator==(const Will&) const = default;
};

// For protocol_level != 4 the decoder stops after the protocol level byte: every later field keeps
// its default, and the server is expected to answer CONNACK 1 (unacceptable protocol version).
struct Connect {
  std::string protocol_name = "MQTT";
  uint8_t protocol_level = kProtocolLevel311;
  bool clean_session = true;
  uint16_t keep_alive = 0;  // seconds; 0 disables keepalive
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary data
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  uint8_t return_code = kConnackAccepted;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  std::string topic;
  std::shared_ptr<const std::string> payload;  // never null after decoding
  uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  uint16_t packet_id = 0;  // only for qos > 0
  std::string_view payloadView() const {
    return payload ? std::string_view(*payload) : std::string_view();
  }
  bool operator==(const Publish& o) const {
    return topic == o.topic && payloadView() == o.payloadView() && qos == o.qos &&
           retain == o.retain && dup == o.dup && packet_id == o.packet_id;
  }
};

struct Puback {
  uint16_t packet_id = 0;
  bool operator==(const Puback&) const = default;
};
struct Pubrec {
  uint16_t packet_id = 0;
  bool operator==(const Pubrec&) const = default;
};
struct Pubrel {
  uint16_t packet_id = 0;
  bool operator==(const Pubrel&) const = default;
};
struct Pubcomp {
  uint16_t packet_id = 0;
  bool operator==(const Pubcomp&) const = default;
};

struct SubscribeTopic {
  std::string filter;
  uint8_t qos = 0;
  bool operator==(const SubscribeTopic&) const = default;
};
struct Subscribe {
  uint16_t packet_id = 0;
  std::vector<SubscribeTopic> topics;  // at least one
  bool operator==(const Subscribe&) const = default;
};
struct Suback {
  uint16_t packet_id = 0;
  std::vector<uint8_t> return_codes;  // 0, 1, 2 or 0x80 each
  bool operator==(const Suback&) const = default;
};
struct Unsubscribe {
  uint16_t packet_id = 0;
  std::vector<std::string> filters;  // at least one
  bool operator==(const Unsubscribe&) const = default;
};
struct Unsuback {
  uint16_t packet_id = 0;
  bool operator==(const Unsuback&) const = default;
};
struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};
struct Disconnect {
  bool operator==(const Disconnect&) const = default;
};

// Alternative index + 1 == PacketType value.
using Packet = std::variant<Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe,
                            Suback, Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect>;

inline PacketType packetType(const Packet& p) { return static_cast<PacketType>(p.index() + 1); }
// "CONNECT", "PUBLISH", ... ("RESERVED" for values outside 1..14).
std::string_view packetTypeName(PacketType t);

}  // namespace evg::mqtt
