#pragma once
// evg::broker::Broker: the embedded MQTT 3.1.1 broker on Boost.Asio (TCP and mutual-TLS
// listeners) around the sans-I/O BrokerCore (broker_core.h).
//
// Threading: one io_context thread owns all state. Construct, call every method and destroy the
// Broker on that thread (from elsewhere use boost::asio::post). Hooks are called on it too.
//
// TLS: the client must present a certificate; the SHA-256 fingerprint (lowercase hex of the DER)
// of the leaf is passed to BrokerHooks::identityForCertificate, and nullopt fails the handshake.
// A certificate that chains to TlsFiles::ca_file is checked by OpenSSL as usual; one from another
// issuer (a device's AWS IoT certificate) is accepted only when its fingerprint has an identity
// (pinning): unknown-issuer errors are forgiven for it, expiry and every other error are not. The
// returned thing name becomes ClientInfo::identity. Plaintext clients get identity = client id.
//
// Lifecycle: listenTcp/listenTls (port 0 = ephemeral; see tcpPort()/tlsPort()), then run the
// io_context. stop(done) stops accepting, closes every connection without wills and calls done()
// (posted) once all sockets are gone. Destroying a running Broker closes sockets abruptly.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/log.h"
#include "base/status.h"
#include "broker/types.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace evg::broker {

class Broker {
 public:
  using Stats = BrokerStats;

  Broker(boost::asio::io_context& io, BrokerOptions options, BrokerHooks& hooks, Log log);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Binds and starts accepting. Errors: kInvalid (bad address), kIo (bind/listen failed, message
  // names address:port), kConflict (already listening), kInvalid for unreadable TLS files.
  Status listenTcp(const std::string& address, uint16_t port);
  Status listenTls(const std::string& address, uint16_t port, const TlsFiles& files);
  // New TLS connections use these files (a renewed server certificate); connected clients keep
  // their sessions and TLS state. Errors as listenTls; on error the old files stay in use.
  Status reloadTls(const TlsFiles& files);
  uint16_t tcpPort() const;  // 0 when not listening
  uint16_t tlsPort() const;

  // Deliver to every session whose subscriptions match (open broker mode); msg.retain stores it
  // (an empty payload deletes the retained message).
  void publish(const Message& msg, std::string_view source_identity);
  void publish(Message&& msg, std::string_view source_identity);  // keeps msg's topic, no copy
  // Deliver only to sessions (online or persistent offline) whose identity == identity, matched
  // against that session's own subscriptions, once, at min(msg.qos, max granted QoS).
  void deliverToIdentity(std::string_view identity, const Message& msg);
  // Store/delete a retained message without delivering it (group mode; see BrokerCore::retain).
  void retain(const Message& msg, std::string_view source_identity);
  // Close connections for which pred is true (no will). E.g. after a deployment.
  void disconnectIf(std::function<bool(const ClientInfo&)> pred, std::string_view reason);
  // Graceful: no new accepts, close sessions (no wills), then done() on the loop thread.
  void stop(std::function<void()> done);

  // Persistent sessions (cleanSession=0) and retained messages are saved in the SQLite file at
  // `path` (broker_store.h; created if missing) and restored from it now. Call before listening.
  // Commits run on a private thread, grouped: a commit starts flush_interval after the first
  // change (0: when the loop turn ends) and takes whatever accumulated; a message acknowledged
  // before its commit is never written. What a kill -9 can lose is bounded by that interval plus
  // one commit. stop() completes after the last commit.
  Status enablePersistence(const std::string& path, std::chrono::milliseconds flush_interval =
                                                        std::chrono::milliseconds(10));

  Stats stats() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// SHA-256 fingerprint (lowercase hex of the DER encoding) of the first certificate in a PEM file.
// The value identityForCertificate receives for that certificate.
Result<std::string> certificateFingerprintFromPemFile(const std::string& path);

}  // namespace evg::broker
