#pragma once
// Values and the hooks interface shared by the broker core (broker_core.h) and its Asio transport
// (broker.h). Everything here is used on the broker's loop thread only.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace evg::broker {

// An application message. The payload is shared, never copied, on the fan-out path.
struct Message {
  std::string topic;
  std::shared_ptr<const std::string> payload;  // null is treated as empty
  uint8_t qos = 0;
  bool retain = false;
};

struct ClientInfo {
  std::string client_id;
  // Thing name (TLS: from the client certificate via BrokerHooks::identityForCertificate) or the
  // client id (plaintext).
  std::string identity;
  bool tls = false;
  std::string peer;  // "ip:port"
  // User name and password from CONNECT, present (when the client sent either) only while
  // BrokerHooks::authorizeConnect runs, then dropped: v1 devices authenticate with certificates,
  // and every connected client would otherwise keep 80 bytes for them.
  struct Credentials {
    std::optional<std::string> username;
    std::optional<std::string> password;
  };
  std::unique_ptr<const Credentials> credentials;
};

struct TlsFiles {
  std::string ca_file;    // PEM; client certificates must chain to it
  std::string cert_file;  // PEM server certificate (chain)
  std::string key_file;   // PEM private key
};

// Every bound the broker keeps, with its default. All limits are per broker unless named per
// client.
struct BrokerOptions {
  size_t max_connections = 1024;  // CONNECTed clients; more -> CONNACK 3
  size_t max_pending_connects =
      64;  // sockets accepted but not yet CONNECTed, above max_connections
  // accept() failing (out of descriptors: EMFILE/ENFILE): wait this long before the next try.
  std::chrono::milliseconds accept_retry_delay{100};
  size_t max_payload_bytes = 128 * 1024;  // bigger PUBLISH -> connection closed (dropped_oversize)
  size_t max_queued_per_client = 1000;    // QoS1/2 waiting behind a full window or while offline
  size_t max_inflight_per_client = 20;    // unacked outbound QoS1/2 per session
  size_t max_subscriptions_per_client = 100;  // more -> SUBACK 0x80
  size_t max_retained = 10000;                // retained topics; new topics beyond -> not stored
  // Topic + payload bytes of all retained messages; a message that would pass it is not stored
  // (a replaced one is then removed too) and counted in dropped_retained_bytes.
  size_t max_retained_bytes = 32 * 1024 * 1024;
  // Topic + payload bytes a session holds for delivery (queued + in flight, online or offline);
  // a QoS1/2 message (or queued QoS0) that would pass it is dropped (dropped_queue_bytes).
  size_t max_queued_bytes_per_client = 16 * 1024 * 1024;
  size_t max_inbound_qos2_per_client = 100;         // PUBREC'd ids awaiting PUBREL; more -> close
  size_t max_client_id_bytes = 256;                 // longer -> CONNACK 2
  size_t max_write_buffer_bytes = 4 * 1024 * 1024;  // per connection; QoS0 beyond is dropped
  bool queue_qos0_offline =
      false;  // queue QoS0 for offline persistent sessions (mosquitto default)
  std::chrono::milliseconds connect_timeout{10'000};     // accept (or TLS handshake) -> CONNECT
  std::chrono::milliseconds tick_interval{500};          // keepalive check period (Asio transport)
  std::chrono::milliseconds close_flush_timeout{2'000};  // time to flush before a forced close
  size_t read_buffer_bytes = 16 * 1024;  // largest per-socket read (buffers grow to it on demand)
  // Ready sockets handled per loop turn before other work (timers, IPC, the router) runs.
  size_t max_socket_events_per_turn = 256;
  // Input coalescing under sustained load (conn_poller.h): once `coalesce_busy_wakeups` wake-ups
  // in a row each came sooner than `coalesce_input` after the previous batch of socket events
  // ended, a batch starts no sooner than `coalesce_input` after the previous one. 0: off.
  // 8: fewer (3) also spaced the wake-ups of a 10k msg/s request/response pair and moved the
  // scheduler's placement of the two (docs/performance.md "Sixth round").
  std::chrono::microseconds coalesce_input{30};
  unsigned coalesce_busy_wakeups = 8;
};

struct BrokerStats {
  uint64_t connections = 0;             // currently open sockets (accepted)
  uint64_t connected_clients = 0;       // currently CONNECTed
  uint64_t connections_total = 0;       // accepted since start
  uint64_t connections_refused = 0;     // over max_pending_connects or CONNACK != 0
  uint64_t messages_in = 0;             // PUBLISH accepted from clients (incl. wills)
  uint64_t messages_out = 0;            // PUBLISH packets sent (incl. redeliveries)
  uint64_t dropped_queue_full = 0;      // QoS1/2 not queued: max_queued_per_client reached
  uint64_t dropped_oversize = 0;        // PUBLISH over max_payload_bytes (connection closed)
  uint64_t dropped_slow_consumer = 0;   // QoS0 not sent: write buffer over its limit
  uint64_t dropped_offline_qos0 = 0;    // QoS0 for an offline session (queue_qos0_offline off)
  uint64_t dropped_retained_full = 0;   // retained message not stored: max_retained reached
  uint64_t dropped_retained_bytes = 0;  // retained message not stored: max_retained_bytes
  uint64_t dropped_queue_bytes = 0;     // not queued: max_queued_bytes_per_client reached
  uint64_t protocol_errors = 0;         // malformed input; the connection was closed
  uint64_t keepalive_timeouts = 0;
  uint64_t coalesced_batches = 0;  // batches of socket input that waited (coalesce_input)
  uint64_t retained = 0;           // retained messages stored now
  uint64_t retained_bytes = 0;     // their topic + payload bytes
  uint64_t queued_bytes = 0;  // topic + payload bytes held by all sessions (queued + in flight)
  uint64_t sessions = 0;      // sessions (online + persistent offline)
  // Persistence (Broker::enablePersistence); zero when off.
  bool persistence = false;
  uint64_t persist_commits = 0;    // transactions committed
  uint64_t persist_ops = 0;        // operations written (incl. coalesced ones skipped)
  uint64_t persist_coalesced = 0;  // messages acked before they were written: never written
  uint64_t persist_failures = 0;   // failed commits (logged)
  uint64_t restored_sessions = 0;  // at start
  uint64_t restored_messages = 0;
  uint64_t restored_retained = 0;
};

// Policy callbacks. All calls happen on the loop thread, possibly re-entrantly from Broker calls
// made inside a hook (e.g. onPublish -> Broker::publish is the expected use).
class BrokerHooks {
 public:
  virtual ~BrokerHooks() = default;
  // TLS: map a verified client certificate's SHA-256 fingerprint (lowercase hex of the DER) to an
  // identity (thing name); nullopt -> handshake refused.
  virtual std::optional<std::string> identityForCertificate(std::string_view sha256_hex) = 0;
  // CONNECT: 0 accepts, 1..5 is sent as the CONNACK return code and the connection is closed.
  virtual uint8_t authorizeConnect(const ClientInfo&) = 0;
  // Per SUBSCRIBE filter: true grants the requested QoS, false answers 0x80.
  virtual bool authorizeSubscribe(const ClientInfo&, std::string_view filter) = 0;
  // An application message accepted from a client (after QoS1/2 bookkeeping) or a Last Will.
  // The hooks route it (Broker::publish, Broker::deliverToIdentity, elsewhere, or nowhere) and may
  // take what they keep from it (Broker::publish(Message&&) keeps the topic without a copy).
  virtual void onPublish(const ClientInfo&, Message&& msg) = 0;
  // Retained replay on subscribe: may `subscriber` receive retained `topic` from source_identity?
  virtual bool mayReceiveRetained(const ClientInfo& subscriber, std::string_view source_identity,
                                  std::string_view topic) = 0;
  virtual void onConnected(const ClientInfo&) {}
  virtual void onDisconnected(const ClientInfo&, std::string_view /*reason*/) {}
};

}  // namespace evg::broker
