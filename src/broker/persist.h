#pragma once
// Durable broker state, as values: what BrokerCore tells its persistence seam (PersistOp, on the
// loop, synchronously) and what it gets back at start (RestoredState). No I/O here: the SQLite
// half is broker_store.h, the batching/pool half lives in broker.cc (group commit).
//
// Persisted: sessions with cleanSession=0 (client id, identity, subscriptions), the QoS 1/2 (and
// queued QoS 0) messages they hold (queued and in flight, with packet id and QoS 2 state), and the
// retained messages. Not persisted: clean sessions, wills, inbound QoS 2 ids awaiting PUBREL
// (a sender that resends after a restart gets its message delivered again: at least once).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace evg::broker {

struct PersistOp {
  enum class Kind : uint8_t {
    kSessionSave,     // client_id, identity (a new persistent session)
    kSessionDelete,   // client_id (and its subscriptions and messages)
    kSubscribe,       // client_id, text = filter, qos
    kUnsubscribe,     // client_id, text = filter
    kMessageAdd,      // seq, client_id, text = topic, payload, qos, retain, packet_id, comp
    kMessageState,    // seq, packet_id, awaiting_comp
    kMessageDelete,   // seq
    kRetainedSet,     // text = topic, payload, qos, identity = source identity
    kRetainedDelete,  // text = topic
  };
  Kind kind = Kind::kSessionSave;
  std::string client_id;
  std::string identity;
  std::string text;
  std::shared_ptr<const std::string> payload;
  uint64_t seq = 0;
  uint8_t qos = 0;
  bool retain = false;
  uint16_t packet_id = 0;
  bool awaiting_comp = false;
  bool cancelled = false;  // coalesced away before it was written (broker.cc)
};

// The core's persistence seam (set with BrokerCore::setPersistSink; none = nothing persisted).
class PersistSink {
 public:
  virtual ~PersistSink() = default;
  virtual void persist(PersistOp&& op) = 0;
};

struct RestoredMessage {
  uint64_t seq = 0;
  std::string topic;
  std::shared_ptr<const std::string> payload;
  uint8_t qos = 0;
  bool retain = false;
  uint16_t packet_id = 0;  // != 0: was in flight
  bool awaiting_comp = false;
};

struct RestoredSession {
  std::string client_id;
  std::string identity;
  std::vector<std::pair<std::string, uint8_t>> subscriptions;
  std::vector<RestoredMessage> messages;  // seq order
};

struct RestoredRetained {
  std::string topic;
  std::shared_ptr<const std::string> payload;
  uint8_t qos = 0;
  std::string source_identity;
};

struct RestoredState {
  std::vector<RestoredSession> sessions;
  std::vector<RestoredRetained> retained;
};

}  // namespace evg::broker
