#pragma once
// Test doubles for BrokerCore: a Transport that records bytes per connection, and open-mode hooks
// that route every inbound message back through BrokerCore::publish.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "broker/broker_core.h"
#include "mqtt/codec.h"

namespace evg::broker {

class FakeTransport : public Transport {
 public:
  void send(ConnId id, Frame&& f) override {
    std::string& out = written[id];
    out += f.owned;
    if (f.shared_head) out += *f.shared_head;
    if (f.body) out += *f.body;
    ++frames;
  }
  void close(ConnId id) override { closed.insert(id); }
  size_t pendingBytes(ConnId id) const override {
    auto it = pending.find(id);
    return it == pending.end() ? 0 : it->second;
  }

  // Decodes and removes every complete packet written to `id` so far.
  std::vector<mqtt::Packet> take(ConnId id) {
    std::vector<mqtt::Packet> out;
    mqtt::Decoder& d = decoders[id];
    d.feed(written[id]);
    written[id].clear();
    while (true) {
      auto r = d.next();
      if (!r.isOk() || !r->has_value()) break;
      out.push_back(std::move(**r));
    }
    return out;
  }

  std::map<ConnId, std::string> written;
  std::map<ConnId, mqtt::Decoder> decoders;
  std::set<ConnId> closed;
  std::map<ConnId, size_t> pending;
  size_t frames = 0;
};

class OpenHooks : public BrokerHooks {
 public:
  std::optional<std::string> identityForCertificate(std::string_view fp) override {
    auto it = things.find(std::string(fp));
    if (it == things.end()) return std::nullopt;
    return it->second;
  }
  uint8_t authorizeConnect(const ClientInfo& info) override {
    last_password = info.credentials ? info.credentials->password.value_or("") : "";
    return connect_code;
  }
  bool authorizeSubscribe(const ClientInfo&, std::string_view filter) override {
    return filter.substr(0, 5) != "deny/";
  }
  void onPublish(const ClientInfo& info, Message&& m) override {
    published.push_back(m);
    if (core != nullptr) core->publish(m, info.identity);
  }
  bool mayReceiveRetained(const ClientInfo&, std::string_view, std::string_view) override {
    return allow_retained;
  }
  void onConnected(const ClientInfo& info) override { connected.push_back(info.client_id); }
  void onDisconnected(const ClientInfo& info, std::string_view reason) override {
    disconnected.push_back(info.client_id + ": " + std::string(reason));
  }

  BrokerCore* core = nullptr;
  uint8_t connect_code = 0;
  bool allow_retained = true;
  std::string last_password;
  std::map<std::string, std::string> things;
  std::vector<Message> published;
  std::vector<std::string> connected;
  std::vector<std::string> disconnected;
};

}  // namespace evg::broker
