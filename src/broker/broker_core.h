#pragma once
// BrokerCore: the sans-I/O MQTT 3.1.1 broker. It owns every connection's protocol state, the
// sessions (online and persistent-offline), the subscription trie and the retained store. It
// never touches a socket or a timer:
//
//   inputs   onAccept / onBytes / onClosed  (from the transport), tick() (periodic), and the API
//            calls publish / deliverToIdentity / disconnectIf / closeAll
//   outputs  Transport::send(conn, Frame) / Transport::close(conn), and BrokerHooks callbacks
//   time     an injected Clock (FakeClock in tests)
//
// Flow of an application message:
//   bytes -> mqtt::Decoder -> handlePublish (PUBACK / PUBREC bookkeeping) -> hooks.onPublish ->
//   (the hooks call) publish() -> trie match, dedupe per session at max QoS -> QoS0: one shared
//   encoded header + shared payload for all; QoS1/2: per-session in-flight window or bounded queue
//   -> Transport::send.
//
// Thread safety: none; every call on the loop thread. Hooks may call back into the core
// (publish, deliverToIdentity, disconnectIf); connections closed during a call are destroyed at
// the start of the next top-level input, so no dangling state is reachable.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/log.h"
#include "broker/lazy_deque.h"
#include "broker/persist.h"
#include "broker/subscription_trie.h"
#include "broker/types.h"
#include "mqtt/codec.h"

namespace evg::broker {

using ConnId = uint64_t;
using TimePoint = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SteadyClock : public Clock {
 public:
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
};

// Manually advanced clock for tests.
class FakeClock : public Clock {
 public:
  TimePoint now() const override { return now_; }
  void advance(std::chrono::milliseconds d) { now_ += d; }

 private:
  TimePoint now_{std::chrono::hours(1)};
};

// Bytes to write, in order: owned, then *shared_head, then *body (each may be empty/null).
// QoS0 fan-out shares one encoded header and the payload between all subscribers.
struct Frame {
  std::string owned;
  std::shared_ptr<const std::string> shared_head;
  std::shared_ptr<const std::string> body;
  size_t size() const {
    return owned.size() + (shared_head ? shared_head->size() : 0) + (body ? body->size() : 0);
  }
};

// The core's output seam (the Asio layer in broker.cc, a recorder in tests).
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void send(ConnId id, Frame&& frame) = 0;
  // Flush what was sent, then close. The core has already forgotten `id`; it ignores a later
  // onClosed(id).
  virtual void close(ConnId id) = 0;
  // Bytes queued but not yet written for `id` (bounds QoS0 to slow consumers).
  virtual size_t pendingBytes(ConnId id) const = 0;
};

// An application message as stored in queues and the retained store (immutable, shared).
struct StoredMessage {
  std::string topic;
  std::shared_ptr<const std::string> payload;  // never null
  uint8_t qos = 0;
};
using StoredPtr = std::shared_ptr<const StoredMessage>;

struct Connection;

// A session's filters -> granted QoS, sorted by filter, in one allocation: a std::map costs 48
// bytes empty plus an 80-byte node per filter, and most devices hold one to three filters.
class SubscriptionList {
 public:
  using Entry = std::pair<std::string, uint8_t>;
  const Entry* find(std::string_view filter) const {
    auto it = lowerBound(filter);
    return it != v_.end() && it->first == filter ? &*it : nullptr;
  }
  bool contains(std::string_view filter) const { return find(filter) != nullptr; }
  // Inserts or replaces.
  void set(std::string_view filter, uint8_t qos) {
    auto it = lowerBound(filter);
    if (it != v_.end() && it->first == filter) {
      it->second = qos;
      return;
    }
    v_.emplace(it, std::string(filter), qos);
  }
  // False when the filter was not there.
  bool erase(std::string_view filter) {
    auto it = lowerBound(filter);
    if (it == v_.end() || it->first != filter) return false;
    v_.erase(it);
    if (v_.empty()) v_.shrink_to_fit();
    return true;
  }
  size_t size() const { return v_.size(); }
  bool empty() const { return v_.empty(); }
  std::vector<Entry>::const_iterator begin() const { return v_.begin(); }
  std::vector<Entry>::const_iterator end() const { return v_.end(); }

 private:
  std::vector<Entry>::iterator lowerBound(std::string_view f) {
    return std::lower_bound(v_.begin(), v_.end(), f,
                            [](const Entry& e, std::string_view k) { return e.first < k; });
  }
  std::vector<Entry>::const_iterator lowerBound(std::string_view f) const {
    return std::lower_bound(v_.begin(), v_.end(), f,
                            [](const Entry& e, std::string_view k) { return e.first < k; });
  }
  std::vector<Entry> v_;
};

// State that outlives a connection when clean_session = 0.
struct Session {
  struct Outgoing {
    StoredPtr msg;
    uint8_t qos = 1;
    bool retain = false;
    uint16_t packet_id = 0;      // 0 while queued
    bool awaiting_comp = false;  // QoS2: PUBREC received, PUBREL sent
    size_t bytes = 0;            // counted in Session::held_bytes while msg is held
    uint64_t seq = 0;            // persistence row id (0: not persisted)
  };
  std::string client_id;
  std::string identity;
  Connection* conn = nullptr;      // null while offline
  SubscriptionList subscriptions;  // filter -> granted QoS
  LazyDeque<Outgoing> inflight;    // sent, unacked (<= max_inflight_per_client)
  LazyDeque<Outgoing> queue;       // waiting for the window / reconnect (<= max_queued_per_client)
  // PUBREC sent, PUBREL not yet received (<= max_inbound_qos2_per_client; a vector: an idle
  // session holds no allocation, and a linear scan of a few ids beats hashing).
  std::vector<uint16_t> inbound_qos2;
  size_t held_bytes = 0;                  // topic + payload bytes in inflight + queue
  Session* next_same_identity = nullptr;  // BrokerCore::by_identity_ chain
  // Fan-out scratch: dedupes overlapping subscriptions within one publish().
  uint64_t match_epoch = 0;
  // The small fields together at the end: one 8-byte slot, not three (184 -> 168 B).
  uint16_t next_packet_id = 1;
  bool clean = true;
  bool packet_ids_wrapped = false;  // ids may now collide with old in-flight ones
  uint8_t match_qos = 0;            // fan-out scratch, with match_epoch
};

struct Connection {
  ConnId id = 0;
  ClientInfo info;
  mqtt::Decoder decoder;
  Session* session = nullptr;
  std::unique_ptr<mqtt::Will> will;  // most clients have none: a pointer, not 80 bytes inline
  TimePoint accepted_at;
  TimePoint last_rx;
  // The small fields together at the end (192 -> 184 B).
  uint16_t keep_alive = 0;
  bool connected = false;  // CONNACK 0 sent
  bool closed = false;
};

class BrokerCore {
 public:
  BrokerCore(BrokerOptions options, BrokerHooks& hooks, Transport& transport, const Clock& clock,
             Log log);
  ~BrokerCore();
  BrokerCore(const BrokerCore&) = delete;
  BrokerCore& operator=(const BrokerCore&) = delete;

  // A socket was accepted (after a successful TLS handshake for TLS). `identity` is the thing name
  // for TLS, empty otherwise. Returns false when over the socket limit: the transport must close.
  bool onAccept(ConnId id, bool tls, std::string identity, std::string peer);
  // Bytes read from `id`. May send, close `id` or any other connection, and call hooks.
  void onBytes(ConnId id, std::string_view bytes);
  // The transport lost `id` (EOF, I/O error): an abnormal close, so the will is published.
  void onClosed(ConnId id, std::string_view reason);
  // Enforces CONNECT timeout and keepalive (1.5 x keep alive). Call every tick_interval.
  void tick();

  // Deliver to every session whose subscriptions match; msg.retain also stores/deletes retained.
  void publish(const Message& msg, std::string_view source_identity);
  // The same, keeping msg's topic and payload without copying them.
  void publish(Message&& msg, std::string_view source_identity);
  // Stores (or, with an empty payload, deletes) a retained message without delivering it: group
  // mode routes live traffic itself and replays retained ones through mayReceiveRetained.
  void retain(const Message& msg, std::string_view source_identity);
  // Deliver only to sessions with this identity, against their own subscriptions, once each at
  // min(msg.qos, max granted QoS). Does not touch the retained store.
  void deliverToIdentity(std::string_view identity, const Message& msg);
  // Closes connected clients for which pred is true (no will).
  void disconnectIf(const std::function<bool(const ClientInfo&)>& pred, std::string_view reason);
  // Closes every connection (no wills) and refuses new CONNECTs with CONNACK 3 from now on.
  void closeAll(std::string_view reason);

  // Persistence (persist.h): every change to durable state is reported to `sink` from now on.
  void setPersistSink(PersistSink* sink) { persist_ = sink; }
  // Rebuilds persistent sessions (offline) and retained messages saved by an earlier run. Call
  // before the first connection. The byte and count bounds apply: what does not fit is dropped,
  // counted and deleted from the store (through the sink).
  struct RestoreStats {
    size_t sessions = 0;
    size_t messages = 0;
    size_t retained = 0;
    size_t dropped = 0;
  };
  RestoreStats restore(RestoredState&& state);

  BrokerStats stats() const;
  size_t connectionCount() const { return conns_.size(); }
  const BrokerOptions& options() const { return options_; }

 private:
  using SharedHead = std::shared_ptr<const std::string>;
  Connection* find(ConnId id);
  void collectGarbage();
  void closeConn(Connection& c, std::string_view reason, bool publish_will, bool notify_transport);
  void sendPacket(Connection& c, const mqtt::Packet& p);
  Status handlePacket(Connection& c, mqtt::Packet&& p);
  Status handleConnect(Connection& c, mqtt::Connect&& p);
  void refuseConnect(Connection& c, uint8_t code, std::string_view why);
  Status handlePublish(Connection& c, mqtt::Publish&& p);
  void handleSubscribe(Connection& c, const mqtt::Subscribe& p);
  void handleUnsubscribe(Connection& c, const mqtt::Unsubscribe& p);
  void handleAck(Connection& c, mqtt::PacketType type, uint16_t packet_id);
  void acceptInbound(Connection& c, Message&& msg);
  Session* attachSession(Connection& c, bool clean, bool* session_present);
  void destroySession(Session* s);
  void linkIdentity(Session* s);
  void unlinkIdentity(Session* s);
  void deliver(Session& s, const StoredPtr& msg, uint8_t qos, bool retain, SharedHead* qos0_head);
  void sendOutgoing(Session& s, Session::Outgoing& o, bool dup);
  void fillWindow(Session& s);
  uint16_t allocPacketId(Session& s);
  void replayRetained(Connection& c, std::string_view filter, uint8_t granted);
  // Returns false when a bound refused it (counted, logged).
  bool storeRetained(const StoredPtr& msg, std::string_view source_identity, bool persist = true);
  // Accounts o (topic + payload bytes) to s; false (nothing changed) over the byte bound. A
  // persistent session also gets a row (unless `persist` is false: restored from the store).
  bool hold(Session& s, Session::Outgoing& o, bool persist = true);
  // Drops o's bytes from s; `forget` also deletes its row.
  void release(Session& s, Session::Outgoing& o, bool forget);
  void persistState(Session& s, const Session::Outgoing& o);
  void emit(PersistOp&& op) {
    if (persist_ != nullptr) persist_->persist(std::move(op));
  }
  // Logs a drop at its first occurrence and every 1000th (a flood must not flood the log too);
  // what() builds the message only then.
  template <class F>
  void noteDrop(uint64_t count, F&& what) {
    if ((count == 1 || count % 1000 == 0) && log_.enabled(LogLevel::kWarn)) {
      log_.warn(std::string(what()) + " (" + std::to_string(count) + " so far)");
    }
  }
  void publishStored(const StoredPtr& stored, bool retain, std::string_view source_identity);
  void fanOut(const StoredPtr& msg, const std::vector<SubscriptionTrie::Match>& matches);

  BrokerOptions options_;
  BrokerHooks& hooks_;
  Transport& transport_;
  const Clock& clock_;
  Log log_;
  bool closing_ = false;

  std::unordered_map<ConnId, std::unique_ptr<Connection>> conns_;
  std::vector<std::unique_ptr<Connection>> graveyard_;
  size_t connected_count_ = 0;
  // By client id; the keys view Session::client_id (set before insertion, never changed), so the
  // id is not stored twice per client.
  std::unordered_map<std::string_view, std::unique_ptr<Session>> sessions_;
  // Identity -> one of its sessions; the others follow through Session::next_same_identity. Keys
  // view that session's identity (re-keyed when it goes), so no identity is stored twice.
  std::unordered_map<std::string_view, Session*> by_identity_;
  SubscriptionTrie trie_;
  struct Retained {
    StoredPtr msg;
    std::string source_identity;
    size_t bytes = 0;
  };
  PersistSink* persist_ = nullptr;
  uint64_t next_seq_ = 1;
  size_t retained_bytes_ = 0;
  size_t queued_bytes_ = 0;
  std::map<std::string, Retained, std::less<>> retained_;
  uint64_t epoch_ = 0;
  uint64_t auto_id_ = 0;
  int publish_depth_ = 0;
  std::vector<SubscriptionTrie::Match> scratch_matches_;
  std::vector<Session*> scratch_sessions_;
  std::vector<Session*> scratch_identity_sessions_;  // deliverToIdentity()'s, at depth 1
  BrokerStats stats_;
};

}  // namespace evg::broker
