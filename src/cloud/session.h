#pragma once
// ClientSession: the sans-I/O MQTT 3.1.1 client side of the cloud connection (Evergreen is the
// client here; src/broker is the server). It turns calls into wire bytes (output()) and received
// bytes (receive()) into events, using the codec in src/mqtt. No sockets, no timers: the
// transport (cloud_client.h) owns those, which keeps this testable byte for byte.
//
//   begin()            CONNECT (client id, keepAlive, cleanSession)    state kConnecting
//   CONNACK 0          -> events.onConnected(session_present)          state kConnected
//   CONNACK != 0       -> receive() returns Unauthorized naming the code: close the connection
//   publish()          PUBLISH QoS 1 with a fresh packet id (never one still in flight)
//   PUBACK             -> events.onPuback(packet_id)
//   PUBLISH in         -> events.onMessage(); QoS 1 answered with PUBACK, QoS 2 with PUBREC
//   subscribe()        SUBSCRIBE; SUBACK -> events.onSuback(id, return codes)
//
// Any protocol violation from the server is an error Status from receive(); the connection must
// then be dropped and begin() called on the next one.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "mqtt/codec.h"
#include "mqtt/packet.h"

namespace evg::cloud {

struct SessionOptions {
  std::string client_id;
  uint16_t keep_alive_s = 600;
  bool clean_session = true;
  size_t max_packet_size = 256 * 1024;  // inbound packets larger than this end the connection
};

class SessionEvents {
 public:
  virtual ~SessionEvents() = default;
  virtual void onConnected(bool session_present) = 0;
  virtual void onPuback(uint16_t packet_id) = 0;
  virtual void onMessage(const mqtt::Publish& publish) = 0;
  virtual void onSuback(uint16_t packet_id, const std::vector<uint8_t>& codes) = 0;
};

class ClientSession {
 public:
  enum class State { kIdle, kConnecting, kConnected };

  ClientSession(SessionOptions opts, SessionEvents& events);

  // Starts a new connection: forgets everything in flight, queues CONNECT.
  void begin();
  // The connection is gone.
  void reset();
  // Feeds received bytes; events fire synchronously. Error: the connection must be closed.
  Status receive(std::string_view bytes);

  // QoS 1 PUBLISH; returns its packet id. Only when connected.
  uint16_t publish(std::string_view topic, std::string_view payload, bool dup);
  uint16_t subscribe(const std::vector<mqtt::SubscribeTopic>& topics);
  uint16_t unsubscribe(const std::vector<std::string>& filters);
  void ping();
  void disconnect();

  // Bytes to write, in order. The transport moves them out (swap) and writes them.
  std::string& output() { return out_; }
  State state() const { return state_; }
  bool connected() const { return state_ == State::kConnected; }
  size_t inflight() const { return inflight_.size(); }
  SessionOptions& options() { return opts_; }

 private:
  uint16_t nextId();
  Status handle(mqtt::Packet&& p);

  SessionOptions opts_;
  SessionEvents& events_;
  State state_ = State::kIdle;
  mqtt::Decoder decoder_;
  std::string out_;
  uint16_t last_id_ = 0;
  std::unordered_set<uint16_t> inflight_;  // PUBLISH/SUBSCRIBE/UNSUBSCRIBE ids awaiting an ack
};

}  // namespace evg::cloud
