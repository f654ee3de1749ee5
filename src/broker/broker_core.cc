#include "broker/broker_core.h"

#include <algorithm>
#include <utility>

#include "mqtt/topic.h"

namespace evg::broker {
namespace {

const std::shared_ptr<const std::string>& emptyPayload() {
  static const auto kEmpty = std::make_shared<const std::string>();
  return kEmpty;
}

// The topic and payload move in: one allocation per message instead of two.
StoredPtr makeStored(Message&& msg) {
  auto s = std::make_shared<StoredMessage>();
  s->topic = std::move(msg.topic);
  s->payload = msg.payload ? std::move(msg.payload) : emptyPayload();
  s->qos = std::min<uint8_t>(msg.qos, 2);
  return s;
}

StoredPtr makeStored(const Message& msg) { return makeStored(Message(msg)); }

size_t messageBytes(const StoredMessage& m) { return m.topic.size() + m.payload->size(); }

// Largest remaining length a PUBLISH within the payload limit can have: topic (2 + 65535) +
// packet id (2) + payload.
size_t decoderLimit(const BrokerOptions& o) { return o.max_payload_bytes + 65535 + 2 + 2; }

}  // namespace

BrokerCore::BrokerCore(BrokerOptions options, BrokerHooks& hooks, Transport& transport,
                       const Clock& clock, Log log)
    : options_(options), hooks_(hooks), transport_(transport), clock_(clock), log_(std::move(log)) {
  if (options_.max_inflight_per_client == 0) options_.max_inflight_per_client = 1;
}

BrokerCore::~BrokerCore() = default;

Connection* BrokerCore::find(ConnId id) {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : it->second.get();
}

void BrokerCore::collectGarbage() {
  if (publish_depth_ == 0) graveyard_.clear();
}

// ---- Transport inputs ----

bool BrokerCore::onAccept(ConnId id, bool tls, std::string identity, std::string peer) {
  collectGarbage();
  if (closing_ || conns_.size() >= options_.max_connections + options_.max_pending_connects ||
      conns_.count(id) != 0) {
    ++stats_.connections_refused;
    if (log_.enabled(LogLevel::kWarn)) log_.warn("refusing connection from " + peer);
    return false;
  }
  auto c = std::make_unique<Connection>();
  c->id = id;
  c->info.tls = tls;
  c->info.identity = std::move(identity);
  c->info.peer = std::move(peer);
  c->decoder = mqtt::Decoder(mqtt::DecoderOptions{decoderLimit(options_)});
  c->accepted_at = c->last_rx = clock_.now();
  conns_.emplace(id, std::move(c));
  ++stats_.connections_total;
  return true;
}

void BrokerCore::onBytes(ConnId id, std::string_view bytes) {
  collectGarbage();
  Connection* c = find(id);
  if (c == nullptr) return;
  c->last_rx = clock_.now();
  Status r = c->decoder.consume(bytes, [&](mqtt::Packet&& p) {
    Status s = handlePacket(*c, std::move(p));
    if (!s.isOk() && !c->closed) {
      ++stats_.protocol_errors;
      closeConn(*c, s.message(), true, true);
    }
    return !c->closed;
  });
  if (!r.isOk() && !c->closed) {
    if (r.code() == Code::kTooLarge) {
      ++stats_.dropped_oversize;
    } else {
      ++stats_.protocol_errors;
    }
    closeConn(*c, r.message(), true, true);
  }
}

void BrokerCore::onClosed(ConnId id, std::string_view reason) {
  collectGarbage();
  if (Connection* c = find(id)) closeConn(*c, reason, true, false);
}

void BrokerCore::tick() {
  collectGarbage();
  const TimePoint now = clock_.now();
  std::vector<std::pair<Connection*, bool>> expired;  // (conn, keepalive?)
  for (auto& [id, c] : conns_) {
    if (!c->connected) {
      if (now - c->accepted_at >= options_.connect_timeout) expired.emplace_back(c.get(), false);
    } else if (c->keep_alive > 0 &&
               now - c->last_rx > std::chrono::milliseconds(c->keep_alive) * 1500) {
      expired.emplace_back(c.get(), true);
    }
  }
  for (auto& [c, keepalive] : expired) {
    if (keepalive) {
      ++stats_.keepalive_timeouts;
      closeConn(*c, "keepalive timeout", true, true);
    } else {
      closeConn(*c, "no CONNECT within the connect timeout", false, true);
    }
  }
}

// ---- Connection lifecycle ----

void BrokerCore::closeConn(Connection& c, std::string_view reason, bool publish_will,
                           bool notify_transport) {
  if (c.closed) return;
  c.closed = true;
  const bool was_connected = c.connected;
  if (was_connected) {
    --connected_count_;
    c.connected = false;
    if (Session* s = c.session) {
      c.session = nullptr;
      s->conn = nullptr;
      if (s->clean) destroySession(s);
    }
  }
  if (notify_transport) transport_.close(c.id);
  auto it = conns_.find(c.id);
  if (it != conns_.end()) {
    graveyard_.push_back(std::move(it->second));
    conns_.erase(it);
  }
  if (log_.enabled(LogLevel::kDebug)) {
    log_.debug("closed " + c.info.peer + " client '" + c.info.client_id +
               "': " + std::string(reason));
  }
  if (!was_connected) return;
  if (publish_will && c.will) {
    Message m{std::move(c.will->topic),
              std::make_shared<const std::string>(std::move(c.will->payload)), c.will->qos,
              c.will->retain};
    c.will.reset();
    ++stats_.messages_in;
    hooks_.onPublish(c.info, std::move(m));
  }
  hooks_.onDisconnected(c.info, reason);
}

void BrokerCore::sendPacket(Connection& c, const mqtt::Packet& p) {
  Frame f;
  mqtt::encode(p, f.owned);
  transport_.send(c.id, std::move(f));
}

void BrokerCore::refuseConnect(Connection& c, uint8_t code, std::string_view why) {
  sendPacket(c, mqtt::Connack{false, code});
  ++stats_.connections_refused;
  if (log_.enabled(LogLevel::kInfo)) {
    log_.info("CONNACK " + std::to_string(code) + " to " + c.info.peer + " client '" +
              c.info.client_id + "': " + std::string(why));
  }
  closeConn(c, why, false, true);
}

Status BrokerCore::handlePacket(Connection& c, mqtt::Packet&& p) {
  const mqtt::PacketType type = mqtt::packetType(p);
  if (!c.connected) {
    if (auto* con = std::get_if<mqtt::Connect>(&p)) return handleConnect(c, std::move(*con));
    return Status::invalid("first packet must be CONNECT, got " +
                           std::string(mqtt::packetTypeName(type)));
  }
  switch (type) {
    case mqtt::PacketType::kPublish:
      return handlePublish(c, std::move(std::get<mqtt::Publish>(p)));
    case mqtt::PacketType::kPuback:
      handleAck(c, type, std::get<mqtt::Puback>(p).packet_id);
      return Status::ok();
    case mqtt::PacketType::kPubrec:
      handleAck(c, type, std::get<mqtt::Pubrec>(p).packet_id);
      return Status::ok();
    case mqtt::PacketType::kPubcomp:
      handleAck(c, type, std::get<mqtt::Pubcomp>(p).packet_id);
      return Status::ok();
    case mqtt::PacketType::kPubrel: {
      uint16_t id = std::get<mqtt::Pubrel>(p).packet_id;
      auto& pending = c.session->inbound_qos2;
      if (auto it = std::find(pending.begin(), pending.end(), id); it != pending.end()) {
        *it = pending.back();
        pending.pop_back();
      }
      sendPacket(c, mqtt::Pubcomp{id});
      return Status::ok();
    }
    case mqtt::PacketType::kSubscribe:
      handleSubscribe(c, std::get<mqtt::Subscribe>(p));
      return Status::ok();
    case mqtt::PacketType::kUnsubscribe:
      handleUnsubscribe(c, std::get<mqtt::Unsubscribe>(p));
      return Status::ok();
    case mqtt::PacketType::kPingreq:
      sendPacket(c, mqtt::Pingresp{});
      return Status::ok();
    case mqtt::PacketType::kDisconnect:
      c.will.reset();
      closeConn(c, "client sent DISCONNECT", false, true);
      return Status::ok();
    case mqtt::PacketType::kConnect:
      return Status::invalid("second CONNECT on a connection");
    default:
      return Status::invalid("unexpected " + std::string(mqtt::packetTypeName(type)) +
                             " from a client");
  }
}

Status BrokerCore::handleConnect(Connection& c, mqtt::Connect&& p) {
  if (p.protocol_level != mqtt::kProtocolLevel311) {
    refuseConnect(c, mqtt::kConnackBadProtocol,
                  "unsupported protocol level " + std::to_string(p.protocol_level));
    return Status::ok();
  }
  if (p.client_id.empty()) {
    if (!p.clean_session) {
      refuseConnect(c, mqtt::kConnackIdentifierRejected, "empty client id with cleanSession=0");
      return Status::ok();
    }
    p.client_id = "evg-auto-" + std::to_string(++auto_id_);
  }
  c.info.client_id = p.client_id;
  if (p.client_id.size() > options_.max_client_id_bytes) {
    refuseConnect(c, mqtt::kConnackIdentifierRejected, "client id too long");
    return Status::ok();
  }
  if (closing_ || connected_count_ >= options_.max_connections) {
    refuseConnect(c, mqtt::kConnackServerUnavailable, "connection limit reached");
    return Status::ok();
  }
  if (!c.info.tls) c.info.identity = p.client_id;
  if (p.username || p.password) {
    c.info.credentials = std::make_unique<const ClientInfo::Credentials>(
        ClientInfo::Credentials{std::move(p.username), std::move(p.password)});
  }
  uint8_t code = hooks_.authorizeConnect(c.info);
  c.info.credentials.reset();
  if (c.closed) return Status::ok();
  if (code != mqtt::kConnackAccepted) {
    refuseConnect(c, std::min<uint8_t>(code, mqtt::kConnackNotAuthorized), "refused by policy");
    return Status::ok();
  }
  // Takeover: the newest connection of a client id wins; the older one goes (with its will). A
  // session left by another identity is discarded, never handed over (attachSession), so a squatter
  // can neither lock the owner out nor read its queue. Which identity may use which client id is
  // policy (hooks.authorizeConnect: group mode allows only the thing name).
  auto it = sessions_.find(p.client_id);
  if (it != sessions_.end() && it->second->conn != nullptr) {
    if (it->second->identity != c.info.identity && log_.enabled(LogLevel::kInfo)) {
      log_.info("client id '" + p.client_id + "' of identity '" + it->second->identity +
                "' taken over by identity '" + c.info.identity + "' from " + c.info.peer);
    }
    closeConn(*it->second->conn, "session taken over by a new connection", true, true);
    if (c.closed) return Status::ok();
  }
  bool present = false;
  Session* s = attachSession(c, p.clean_session, &present);
  c.session = s;
  c.connected = true;
  ++connected_count_;
  c.keep_alive = p.keep_alive;
  c.will = p.will ? std::make_unique<mqtt::Will>(std::move(*p.will)) : nullptr;
  sendPacket(c, mqtt::Connack{present, mqtt::kConnackAccepted});
  if (log_.enabled(LogLevel::kDebug)) {
    log_.debug("client '" + c.info.client_id + "' (" + c.info.identity + ") connected from " +
               c.info.peer);
  }
  hooks_.onConnected(c.info);
  if (c.closed) return Status::ok();
  if (!s->inflight.empty()) {
    for (auto& o : s->inflight) sendOutgoing(*s, o, /*dup=*/true);
  }
  fillWindow(*s);
  return Status::ok();
}

Session* BrokerCore::attachSession(Connection& c, bool clean, bool* session_present) {
  auto it = sessions_.find(c.info.client_id);
  if (it != sessions_.end() &&
      (clean || it->second->clean || it->second->identity != c.info.identity)) {
    destroySession(it->second.get());
    it = sessions_.end();
  }
  Session* s;
  if (it != sessions_.end()) {
    s = it->second.get();
    *session_present = true;
  } else {
    auto owned = std::make_unique<Session>();
    s = owned.get();
    s->client_id = c.info.client_id;
    s->identity = c.info.identity;
    sessions_.emplace(std::string_view(s->client_id), std::move(owned));
    linkIdentity(s);
    *session_present = false;
    if (!clean) {
      PersistOp op;
      op.kind = PersistOp::Kind::kSessionSave;
      op.client_id = s->client_id;
      op.identity = s->identity;
      emit(std::move(op));
    }
  }
  s->clean = clean;
  s->conn = &c;
  return s;
}

void BrokerCore::destroySession(Session* s) {
  for (const auto& [filter, qos] : s->subscriptions) trie_.unsubscribe(filter, s);
  queued_bytes_ -= s->held_bytes;
  s->held_bytes = 0;
  if (!s->clean) {
    PersistOp op;
    op.kind = PersistOp::Kind::kSessionDelete;
    op.client_id = s->client_id;
    emit(std::move(op));
  }
  unlinkIdentity(s);
  // By iterator: the key views s->client_id, which the erase frees.
  if (auto it = sessions_.find(s->client_id); it != sessions_.end()) sessions_.erase(it);
}

void BrokerCore::linkIdentity(Session* s) {
  auto [it, inserted] = by_identity_.try_emplace(std::string_view(s->identity), s);
  if (!inserted) {
    s->next_same_identity = it->second->next_same_identity;
    it->second->next_same_identity = s;
  }
}

void BrokerCore::unlinkIdentity(Session* s) {
  auto it = by_identity_.find(s->identity);
  if (it == by_identity_.end()) return;
  if (it->second == s) {
    Session* next = s->next_same_identity;
    by_identity_.erase(it);  // the key views s->identity: re-key on the next session
    if (next != nullptr) by_identity_.emplace(std::string_view(next->identity), next);
  } else {
    for (Session* p = it->second; p != nullptr; p = p->next_same_identity) {
      if (p->next_same_identity == s) {
        p->next_same_identity = s->next_same_identity;
        break;
      }
    }
  }
  s->next_same_identity = nullptr;
}

// ---- Inbound ----

Status BrokerCore::handlePublish(Connection& c, mqtt::Publish&& p) {
  if (p.payload->size() > options_.max_payload_bytes) {
    ++stats_.dropped_oversize;
    closeConn(c,
              "payload of " + std::to_string(p.payload->size()) + " bytes exceeds the limit of " +
                  std::to_string(options_.max_payload_bytes),
              true, true);
    return Status::ok();
  }
  const uint16_t id = p.packet_id;
  const uint8_t qos = p.qos;
  Message m{std::move(p.topic), std::move(p.payload), p.qos, p.retain};
  if (qos == 1) {
    sendPacket(c, mqtt::Puback{id});
  } else if (qos == 2) {
    auto& pending = c.session->inbound_qos2;
    if (std::find(pending.begin(), pending.end(), id) !=
        pending.end()) {  // a resend: delivered already, only acknowledge again
      sendPacket(c, mqtt::Pubrec{id});
      return Status::ok();
    }
    if (pending.size() >= options_.max_inbound_qos2_per_client) {
      return Status::invalid("more than " + std::to_string(options_.max_inbound_qos2_per_client) +
                             " unreleased QoS 2 messages");
    }
    pending.push_back(id);
    sendPacket(c, mqtt::Pubrec{id});
  }
  acceptInbound(c, std::move(m));
  return Status::ok();
}

void BrokerCore::acceptInbound(Connection& c, Message&& msg) {
  ++stats_.messages_in;
  hooks_.onPublish(c.info, std::move(msg));
}

void BrokerCore::handleAck(Connection& c, mqtt::PacketType type, uint16_t packet_id) {
  Session& s = *c.session;
  auto it = std::find_if(s.inflight.begin(), s.inflight.end(),
                         [packet_id](const auto& o) { return o.packet_id == packet_id; });
  if (it == s.inflight.end()) return;  // unknown id: tolerated (e.g. a late duplicate ack)
  switch (type) {
    case mqtt::PacketType::kPuback:
      if (it->qos != 1) return;
      release(s, *it, true);
      s.inflight.erase(it);
      fillWindow(s);
      return;
    case mqtt::PacketType::kPubrec:
      if (it->qos != 2) return;
      if (it->awaiting_comp) {  // a resent PUBREC
        sendPacket(c, mqtt::Pubrel{packet_id});
        return;
      }
      it->awaiting_comp = true;
      release(s, *it, false);
      it->msg.reset();  // payload no longer needed
      persistState(s, *it);
      sendPacket(c, mqtt::Pubrel{packet_id});
      return;
    case mqtt::PacketType::kPubcomp:
      if (it->qos != 2 || !it->awaiting_comp) return;
      release(s, *it, true);
      s.inflight.erase(it);
      fillWindow(s);
      return;
    default:
      return;
  }
}

void BrokerCore::handleSubscribe(Connection& c, const mqtt::Subscribe& p) {
  Session* s = c.session;
  mqtt::Suback ack{p.packet_id, {}};
  std::vector<std::pair<std::string_view, uint8_t>> granted;
  for (const auto& t : p.topics) {
    const bool exists = s->subscriptions.contains(t.filter);
    if (!exists && s->subscriptions.size() >= options_.max_subscriptions_per_client) {
      ack.return_codes.push_back(mqtt::kSubackFailure);
      continue;
    }
    if (!hooks_.authorizeSubscribe(c.info, t.filter)) {
      ack.return_codes.push_back(mqtt::kSubackFailure);
      continue;
    }
    if (c.closed) return;
    s->subscriptions.set(t.filter, t.qos);
    trie_.subscribe(t.filter, s, t.qos);
    if (!s->clean) {
      PersistOp op;
      op.kind = PersistOp::Kind::kSubscribe;
      op.client_id = s->client_id;
      op.text = t.filter;
      op.qos = t.qos;
      emit(std::move(op));
    }
    ack.return_codes.push_back(t.qos);
    granted.emplace_back(t.filter, t.qos);
  }
  if (c.closed) return;
  sendPacket(c, ack);
  for (const auto& [filter, qos] : granted) {
    if (c.closed) return;
    replayRetained(c, filter, qos);
  }
}

void BrokerCore::handleUnsubscribe(Connection& c, const mqtt::Unsubscribe& p) {
  Session* s = c.session;
  for (const auto& f : p.filters) {
    if (!s->subscriptions.contains(f)) continue;
    trie_.unsubscribe(f, s);
    s->subscriptions.erase(f);
    if (!s->clean) {
      PersistOp op;
      op.kind = PersistOp::Kind::kUnsubscribe;
      op.client_id = s->client_id;
      op.text = f;
      emit(std::move(op));
    }
  }
  sendPacket(c, mqtt::Unsuback{p.packet_id});
}

// ---- Outbound ----

uint16_t BrokerCore::allocPacketId(Session& s) {
  while (true) {
    uint16_t id = s.next_packet_id++;
    if (s.next_packet_id == 0) {
      s.next_packet_id = 1;
      s.packet_ids_wrapped = true;
    }
    if (id == 0) continue;
    // Before the first wrap every id handed out is new; afterwards skip ids still in flight.
    if (!s.packet_ids_wrapped) return id;
    bool used = std::any_of(s.inflight.begin(), s.inflight.end(),
                            [id](const auto& o) { return o.packet_id == id; });
    if (!used) return id;
  }
}

void BrokerCore::sendOutgoing(Session& s, Session::Outgoing& o, bool dup) {
  if (s.conn == nullptr) return;
  Frame f;
  if (o.awaiting_comp) {
    mqtt::encode(mqtt::Pubrel{o.packet_id}, f.owned);
  } else {
    mqtt::encodePublishHeader(f.owned, o.msg->topic, o.qos, o.retain, dup, o.packet_id,
                              o.msg->payload->size());
    f.body = o.msg->payload;
    ++stats_.messages_out;
  }
  transport_.send(s.conn->id, std::move(f));
}

void BrokerCore::deliver(Session& s, const StoredPtr& msg, uint8_t qos, bool retain,
                         SharedHead* qos0_head) {
  if (qos == 0) {
    if (s.conn == nullptr) {
      if (options_.queue_qos0_offline && !s.clean &&
          s.queue.size() < options_.max_queued_per_client) {
        Session::Outgoing o{msg, 0, retain, 0, false};
        if (hold(s, o)) s.queue.push_back(std::move(o));
      } else {
        ++stats_.dropped_offline_qos0;
      }
      return;
    }
    if (transport_.pendingBytes(s.conn->id) > options_.max_write_buffer_bytes) {
      ++stats_.dropped_slow_consumer;
      return;
    }
    Frame f;
    if (!retain && qos0_head != nullptr) {
      if (!*qos0_head) {
        auto head = std::make_shared<std::string>();
        mqtt::encodePublishHeader(*head, msg->topic, 0, false, false, 0, msg->payload->size());
        *qos0_head = std::move(head);
      }
      f.shared_head = *qos0_head;
    } else {
      mqtt::encodePublishHeader(f.owned, msg->topic, 0, retain, false, 0, msg->payload->size());
    }
    f.body = msg->payload;
    ++stats_.messages_out;
    transport_.send(s.conn->id, std::move(f));
    return;
  }
  if (s.conn != nullptr && s.queue.empty() &&
      s.inflight.size() < options_.max_inflight_per_client) {
    Session::Outgoing o{msg, qos, retain, allocPacketId(s), false};
    if (!hold(s, o)) return;
    s.inflight.push_back(std::move(o));
    sendOutgoing(s, s.inflight.back(), false);
    return;
  }
  if (s.queue.size() >= options_.max_queued_per_client) {
    ++stats_.dropped_queue_full;
    noteDrop(stats_.dropped_queue_full, [&] {
      return "message for client '" + s.client_id + "' dropped: its queue holds " +
             std::to_string(s.queue.size()) + " messages (mqtt.maxQueuedPerClient)";
    });
    return;
  }
  Session::Outgoing o{msg, qos, retain, 0, false};
  if (hold(s, o)) s.queue.push_back(std::move(o));
}

bool BrokerCore::hold(Session& s, Session::Outgoing& o, bool persist) {
  const size_t bytes = messageBytes(*o.msg);
  if (s.held_bytes + bytes > options_.max_queued_bytes_per_client) {
    ++stats_.dropped_queue_bytes;
    noteDrop(stats_.dropped_queue_bytes, [&] {
      return "message on '" + o.msg->topic + "' for client '" + s.client_id +
             "' dropped: " + std::to_string(s.held_bytes) + " bytes held + " +
             std::to_string(bytes) + " would pass mqtt.maxQueuedBytesPerClient (" +
             std::to_string(options_.max_queued_bytes_per_client) + ")";
    });
    return false;
  }
  o.bytes = bytes;
  s.held_bytes += bytes;
  queued_bytes_ += bytes;
  if (!s.clean && persist && persist_ != nullptr) {
    o.seq = next_seq_++;
    PersistOp op;
    op.kind = PersistOp::Kind::kMessageAdd;
    op.seq = o.seq;
    op.client_id = s.client_id;
    op.text = o.msg->topic;
    op.payload = o.msg->payload;
    op.qos = o.qos;
    op.retain = o.retain;
    op.packet_id = o.packet_id;
    emit(std::move(op));
  }
  return true;
}

void BrokerCore::release(Session& s, Session::Outgoing& o, bool forget) {
  s.held_bytes -= o.bytes;
  queued_bytes_ -= o.bytes;
  o.bytes = 0;
  if (forget && o.seq != 0) {
    PersistOp op;
    op.kind = PersistOp::Kind::kMessageDelete;
    op.seq = o.seq;
    emit(std::move(op));
    o.seq = 0;
  }
}

void BrokerCore::persistState(Session& /*s*/, const Session::Outgoing& o) {
  if (o.seq == 0) return;
  PersistOp op;
  op.kind = PersistOp::Kind::kMessageState;
  op.seq = o.seq;
  op.packet_id = o.packet_id;
  op.awaiting_comp = o.awaiting_comp;
  emit(std::move(op));
}

void BrokerCore::fillWindow(Session& s) {
  while (s.conn != nullptr && !s.queue.empty()) {
    Session::Outgoing& front = s.queue.front();
    if (front.qos == 0) {
      Session::Outgoing o = std::move(front);
      s.queue.pop_front();
      release(s, o, true);
      Frame f;
      mqtt::encodePublishHeader(f.owned, o.msg->topic, 0, o.retain, false, 0,
                                o.msg->payload->size());
      f.body = o.msg->payload;
      ++stats_.messages_out;
      transport_.send(s.conn->id, std::move(f));
      continue;
    }
    if (s.inflight.size() >= options_.max_inflight_per_client) return;
    Session::Outgoing o = std::move(front);
    s.queue.pop_front();
    o.packet_id = allocPacketId(s);
    s.inflight.push_back(std::move(o));
    persistState(s, s.inflight.back());
    sendOutgoing(s, s.inflight.back(), false);
  }
}

void BrokerCore::fanOut(const StoredPtr& msg, const std::vector<SubscriptionTrie::Match>& matches) {
  std::vector<Session*> local;
  std::vector<Session*>& targets = publish_depth_ <= 1 ? scratch_sessions_ : local;
  targets.clear();
  ++epoch_;
  for (const auto& m : matches) {
    Session* s = m.session;
    if (s->match_epoch != epoch_) {
      s->match_epoch = epoch_;
      s->match_qos = m.qos;
      targets.push_back(s);
    } else if (m.qos > s->match_qos) {
      s->match_qos = m.qos;
    }
  }
  // One QoS 0 head shared by all targets; a single target's frame owns its head (one
  // allocation instead of two: the shared string's control block and its bytes).
  SharedHead head0;
  SharedHead* shared = targets.size() > 1 ? &head0 : nullptr;
  for (Session* s : targets) deliver(*s, msg, std::min(msg->qos, s->match_qos), false, shared);
}

// ---- API ----

void BrokerCore::publish(const Message& msg, std::string_view source_identity) {
  publishStored(makeStored(msg), msg.retain, source_identity);
}

void BrokerCore::publish(Message&& msg, std::string_view source_identity) {
  const bool retain = msg.retain;
  publishStored(makeStored(std::move(msg)), retain, source_identity);
}

void BrokerCore::publishStored(const StoredPtr& stored, bool retain,
                               std::string_view source_identity) {
  ++publish_depth_;
  if (retain) storeRetained(stored, source_identity);
  std::vector<SubscriptionTrie::Match> local;
  auto& matches = publish_depth_ == 1 ? scratch_matches_ : local;
  matches.clear();
  trie_.match(stored->topic, matches);
  if (!matches.empty()) fanOut(stored, matches);
  --publish_depth_;
}

void BrokerCore::retain(const Message& msg, std::string_view source_identity) {
  if (!msg.retain) return;
  storeRetained(makeStored(msg), source_identity);
}

void BrokerCore::deliverToIdentity(std::string_view identity, const Message& msg) {
  auto it = by_identity_.find(identity);
  if (it == by_identity_.end()) return;
  ++publish_depth_;
  StoredPtr stored = makeStored(msg);
  SharedHead head0;
  // A copy (delivering may close sessions), in a reused vector unless nested in another delivery.
  std::vector<Session*> local;
  std::vector<Session*>& targets = publish_depth_ <= 1 ? scratch_identity_sessions_ : local;
  targets.clear();
  for (Session* s = it->second; s != nullptr; s = s->next_same_identity) targets.push_back(s);
  SharedHead* shared = targets.size() > 1 ? &head0 : nullptr;
  for (Session* s : targets) {
    int best = -1;
    for (const auto& [filter, qos] : s->subscriptions) {
      if (qos > best && mqtt::topicMatches(filter, stored->topic)) best = qos;
    }
    if (best >= 0) {
      deliver(*s, stored, std::min<uint8_t>(stored->qos, static_cast<uint8_t>(best)), false,
              shared);
    }
  }
  --publish_depth_;
}

bool BrokerCore::storeRetained(const StoredPtr& msg, std::string_view source_identity,
                               bool persist) {
  auto it = retained_.find(msg->topic);
  auto forget = [&] {
    if (it == retained_.end()) return;
    retained_bytes_ -= it->second.bytes;
    retained_.erase(it);
    it = retained_.end();
    PersistOp op;
    op.kind = PersistOp::Kind::kRetainedDelete;
    op.text = msg->topic;
    emit(std::move(op));
  };
  if (msg->payload->empty()) {
    forget();
    return true;
  }
  const size_t bytes = messageBytes(*msg);
  const size_t others = retained_bytes_ - (it != retained_.end() ? it->second.bytes : 0);
  if (others + bytes > options_.max_retained_bytes) {
    // The publisher meant to replace the old value: a stale one is not kept either.
    forget();
    ++stats_.dropped_retained_bytes;
    noteDrop(stats_.dropped_retained_bytes, [&] {
      return "retained message on '" + msg->topic + "' (" + std::to_string(bytes) +
             " bytes) not stored: the retained store holds " + std::to_string(others) +
             " bytes (mqtt.maxRetainedBytes " + std::to_string(options_.max_retained_bytes) + ")";
    });
    return false;
  }
  if (it == retained_.end() && retained_.size() >= options_.max_retained) {
    ++stats_.dropped_retained_full;
    noteDrop(stats_.dropped_retained_full, [&] {
      return "retained message on '" + msg->topic +
             "' not stored: " + std::to_string(retained_.size()) +
             " retained topics (mqtt.maxRetained)";
    });
    return false;
  }
  if (it != retained_.end()) {
    retained_bytes_ -= it->second.bytes;
    it->second = Retained{msg, std::string(source_identity), bytes};
  } else {
    retained_.emplace(msg->topic, Retained{msg, std::string(source_identity), bytes});
  }
  retained_bytes_ += bytes;
  if (persist) {
    PersistOp op;
    op.kind = PersistOp::Kind::kRetainedSet;
    op.text = msg->topic;
    op.payload = msg->payload;
    op.qos = msg->qos;
    op.identity = std::string(source_identity);
    emit(std::move(op));
  }
  return true;
}

BrokerCore::RestoreStats BrokerCore::restore(RestoredState&& state) {
  RestoreStats rs;
  for (auto& r : state.retained) {
    auto m = std::make_shared<StoredMessage>();
    m->topic = std::move(r.topic);
    m->payload = r.payload ? std::move(r.payload) : emptyPayload();
    m->qos = std::min<uint8_t>(r.qos, 2);
    if (storeRetained(m, r.source_identity, /*persist=*/false)) {
      ++rs.retained;
    } else {
      ++rs.dropped;
      PersistOp op;
      op.kind = PersistOp::Kind::kRetainedDelete;
      op.text = m->topic;
      emit(std::move(op));
    }
  }
  for (auto& rsess : state.sessions) {
    if (rsess.client_id.empty() || sessions_.count(rsess.client_id) != 0) continue;
    auto owned = std::make_unique<Session>();
    Session* s = owned.get();
    s->client_id = rsess.client_id;
    s->identity = rsess.identity;
    s->clean = false;
    sessions_.emplace(std::string_view(s->client_id), std::move(owned));
    linkIdentity(s);
    ++rs.sessions;
    for (auto& [filter, qos] : rsess.subscriptions) {
      if (s->subscriptions.size() >= options_.max_subscriptions_per_client) break;
      const uint8_t q = std::min<uint8_t>(qos, 2);
      s->subscriptions.set(filter, q);
      trie_.subscribe(filter, s, q);
    }
    uint16_t max_id = 0;
    for (auto& rm : rsess.messages) {
      next_seq_ = std::max(next_seq_, rm.seq + 1);
      auto m = std::make_shared<StoredMessage>();
      m->topic = std::move(rm.topic);
      m->payload = rm.payload ? std::move(rm.payload) : emptyPayload();
      m->qos = std::min<uint8_t>(rm.qos, 2);
      Session::Outgoing o{m, m->qos, rm.retain, 0, false};
      o.seq = rm.seq;
      const bool in_flight =
          rm.packet_id != 0 && m->qos > 0 &&
          (rm.awaiting_comp || s->inflight.size() < options_.max_inflight_per_client);
      const bool fits = in_flight || s->queue.size() < options_.max_queued_per_client;
      if (!fits || (!rm.awaiting_comp && !hold(*s, o, /*persist=*/false))) {
        ++rs.dropped;
        PersistOp op;
        op.kind = PersistOp::Kind::kMessageDelete;
        op.seq = rm.seq;
        emit(std::move(op));
        continue;
      }
      if (in_flight) {
        o.packet_id = rm.packet_id;
        o.awaiting_comp = rm.awaiting_comp;
        if (o.awaiting_comp) o.msg.reset();
        max_id = std::max(max_id, rm.packet_id);
        s->inflight.push_back(std::move(o));
      } else {
        s->queue.push_back(std::move(o));
      }
      ++rs.messages;
    }
    // Restored in-flight ids stay in use: allocate after them and check for collisions.
    s->next_packet_id = static_cast<uint16_t>(max_id + 1 == 0x10000 ? 1 : max_id + 1);
    s->packet_ids_wrapped = !s->inflight.empty();
  }
  return rs;
}

void BrokerCore::replayRetained(Connection& c, std::string_view filter, uint8_t granted) {
  if (retained_.empty()) return;
  std::vector<const Retained*> hits;
  if (filter.find_first_of("+#") == std::string_view::npos) {
    auto it = retained_.find(filter);
    if (it != retained_.end()) hits.push_back(&it->second);
  } else {
    for (const auto& [topic, r] : retained_) {
      if (mqtt::topicMatches(filter, topic)) hits.push_back(&r);
    }
  }
  // Copy out before calling hooks: a hook may publish and change the retained store.
  std::vector<Retained> copies;
  copies.reserve(hits.size());
  for (const Retained* r : hits) copies.push_back(*r);
  for (const auto& r : copies) {
    if (!hooks_.mayReceiveRetained(c.info, r.source_identity, r.msg->topic)) continue;
    if (c.closed || c.session == nullptr) return;
    deliver(*c.session, r.msg, std::min(granted, r.msg->qos), /*retain=*/true, nullptr);
  }
}

void BrokerCore::disconnectIf(const std::function<bool(const ClientInfo&)>& pred,
                              std::string_view reason) {
  std::vector<Connection*> victims;
  for (auto& [id, c] : conns_) {
    if (c->connected && pred(c->info)) victims.push_back(c.get());
  }
  for (Connection* c : victims) closeConn(*c, reason, false, true);
}

void BrokerCore::closeAll(std::string_view reason) {
  closing_ = true;
  std::vector<Connection*> all;
  for (auto& [id, c] : conns_) all.push_back(c.get());
  for (Connection* c : all) {
    c->will.reset();
    closeConn(*c, reason, false, true);
  }
}

BrokerStats BrokerCore::stats() const {
  BrokerStats s = stats_;
  s.connections = conns_.size();
  s.connected_clients = connected_count_;
  s.retained = retained_.size();
  s.retained_bytes = retained_bytes_;
  s.queued_bytes = queued_bytes_;
  s.sessions = sessions_.size();
  return s;
}

}  // namespace evg::broker
