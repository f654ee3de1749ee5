#include "cloud/session.h"

#include <utility>

namespace evg::cloud {

ClientSession::ClientSession(SessionOptions opts, SessionEvents& events)
    : opts_(std::move(opts)), events_(events) {}

void ClientSession::begin() {
  reset();
  mqtt::Connect c;
  c.client_id = opts_.client_id;
  c.keep_alive = opts_.keep_alive_s;
  c.clean_session = opts_.clean_session;
  mqtt::encode(c, out_);
  state_ = State::kConnecting;
}

void ClientSession::reset() {
  state_ = State::kIdle;
  decoder_ = mqtt::Decoder(mqtt::DecoderOptions{opts_.max_packet_size});
  out_.clear();
  inflight_.clear();
}

uint16_t ClientSession::nextId() {
  // 65535 ids; the window (<= a few hundred) keeps this loop short.
  for (;;) {
    last_id_ = static_cast<uint16_t>(last_id_ == 65535 ? 1 : last_id_ + 1);
    if (!inflight_.count(last_id_)) return last_id_;
  }
}

uint16_t ClientSession::publish(std::string_view topic, std::string_view payload, bool dup) {
  uint16_t id = nextId();
  inflight_.insert(id);
  mqtt::encodePublishHeader(out_, topic, 1, false, dup, id, payload.size());
  out_.append(payload);
  return id;
}

uint16_t ClientSession::subscribe(const std::vector<mqtt::SubscribeTopic>& topics) {
  uint16_t id = nextId();
  inflight_.insert(id);
  mqtt::encode(mqtt::Subscribe{id, topics}, out_);
  return id;
}

uint16_t ClientSession::unsubscribe(const std::vector<std::string>& filters) {
  uint16_t id = nextId();
  inflight_.insert(id);
  mqtt::encode(mqtt::Unsubscribe{id, filters}, out_);
  return id;
}

void ClientSession::ping() { mqtt::encode(mqtt::Pingreq{}, out_); }

void ClientSession::disconnect() {
  mqtt::encode(mqtt::Disconnect{}, out_);
  state_ = State::kIdle;
}

Status ClientSession::receive(std::string_view bytes) {
  if (state_ == State::kIdle) return Status::invalid("data received with no connection");
  decoder_.feed(bytes);
  for (;;) {
    auto r = decoder_.next();
    if (!r) return r.status().withContext("from the cloud broker: ");
    if (!r->has_value()) return Status::ok();
    EVG_RETURN_IF_ERROR(handle(std::move(**r)));
  }
}

Status ClientSession::handle(mqtt::Packet&& p) {
  auto type = mqtt::packetType(p);
  if (state_ == State::kConnecting && type != mqtt::PacketType::kConnack) {
    return Status::invalid("expected CONNACK from the cloud broker, got " +
                           std::string(mqtt::packetTypeName(type)));
  }
  switch (type) {
    case mqtt::PacketType::kConnack: {
      if (state_ != State::kConnecting) return Status::invalid("unexpected second CONNACK");
      const auto& ca = std::get<mqtt::Connack>(p);
      if (ca.return_code != mqtt::kConnackAccepted) {
        static const char* const kNames[] = {
            "accepted",           "unacceptable protocol version", "identifier rejected",
            "server unavailable", "bad user name or password",     "not authorized"};
        std::string name = ca.return_code < 6 ? kNames[ca.return_code] : "unknown";
        return Status::unauthorized("the cloud broker refused the connection: CONNACK " +
                                    std::to_string(ca.return_code) + " (" + name + ")");
      }
      state_ = State::kConnected;
      events_.onConnected(ca.session_present);
      return Status::ok();
    }
    case mqtt::PacketType::kPuback: {
      uint16_t id = std::get<mqtt::Puback>(p).packet_id;
      // An ack for an id not in flight (e.g. a late ack from an earlier connection) is ignored.
      if (inflight_.erase(id)) events_.onPuback(id);
      return Status::ok();
    }
    case mqtt::PacketType::kSuback: {
      const auto& s = std::get<mqtt::Suback>(p);
      if (inflight_.erase(s.packet_id)) events_.onSuback(s.packet_id, s.return_codes);
      return Status::ok();
    }
    case mqtt::PacketType::kUnsuback:
      inflight_.erase(std::get<mqtt::Unsuback>(p).packet_id);
      return Status::ok();
    case mqtt::PacketType::kPublish: {
      auto& pub = std::get<mqtt::Publish>(p);
      if (pub.qos == 1) mqtt::encode(mqtt::Puback{pub.packet_id}, out_);
      if (pub.qos == 2) mqtt::encode(mqtt::Pubrec{pub.packet_id}, out_);
      events_.onMessage(pub);
      return Status::ok();
    }
    case mqtt::PacketType::kPubrel:
      mqtt::encode(mqtt::Pubcomp{std::get<mqtt::Pubrel>(p).packet_id}, out_);
      return Status::ok();
    case mqtt::PacketType::kPingresp:
      return Status::ok();
    default:
      return Status::invalid("unexpected " + std::string(mqtt::packetTypeName(type)) +
                             " from the cloud broker");
  }
}

}  // namespace evg::cloud
