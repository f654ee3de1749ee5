#pragma once
// Local Greengrass Discovery: the part of the v1 cloud a client device asked "which core do I
// connect to, and which CA do I trust for it?". After the v1 cloud is gone, devices whose SDK
// discovery client is pointed at the core ask the core itself:
//
//   GET /greengrass/discover/thing/<thingName>      (HTTPS, mutual TLS with the device's own cert)
//   200 {"GGGroups":[{"GGGroupId","Cores":[{"thingArn","Connectivity":[{"Id","HostAddress",
//        "PortNumber","Metadata"}]}],"CAs":["-----BEGIN CERTIFICATE-----..."]}]}
//
// handleDiscover is the sans-I/O core (one request -> one answer); DiscoveryServer is its HTTPS
// transport on the core's Asio loop (Boost.Beast over asio::ssl). A client certificate is
// accepted exactly as the MQTT listener accepts it (identity callback = the group's devices,
// pinned by SHA-256 whatever the issuer); the thing asked about must be the certificate's thing.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/asio.h"
#include "base/log.h"
#include "base/status.h"

namespace evg::discovery {

struct Connectivity {
  std::string id;
  std::string host_address;
  int port = 0;
  std::string metadata;
};

// What the answer holds; built by the core from its config and active group on each request.
struct DiscoveryInfo {
  std::string group_id;
  std::string core_thing_arn;
  std::vector<Connectivity> connectivity;
  std::vector<std::string> ca_pems;
  // Things of the active group (devices and cores) that may discover.
  std::function<bool(std::string_view thing)> in_group;
};

struct Answer {
  int status = 200;
  std::string body;  // JSON
};

// identity: the thing name bound to the client certificate by the TLS handshake.
Answer handleDiscover(std::string_view method, std::string_view target, std::string_view identity,
                      const DiscoveryInfo& info);

// The host's addresses for default connectivity: non-loopback IPv4 then IPv6 addresses of
// interfaces that are up, then 127.0.0.1. Used by the core when evergreen.discovery.connectivity
// is empty (as v1's IP detector reported them).
std::vector<std::string> detectHostAddresses();

struct ServerOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 0;  // 0 = ephemeral (tests)
  std::string cert_file, key_file, ca_file;
  std::chrono::milliseconds request_timeout{10000};  // handshake + request, per connection
  size_t max_connections = 64;
  size_t max_header_bytes = 8192;
};

class DiscoveryServer {
 public:
  using IdentityFn = std::function<std::optional<std::string>(std::string_view sha256_hex)>;
  using InfoFn = std::function<DiscoveryInfo()>;
  DiscoveryServer(boost::asio::io_context& io, ServerOptions opts, IdentityFn identity, InfoFn info,
                  Log log);
  ~DiscoveryServer();
  DiscoveryServer(const DiscoveryServer&) = delete;
  DiscoveryServer& operator=(const DiscoveryServer&) = delete;

  Status start();
  // New connections present this certificate (a renewed server certificate).
  Status reloadCertificate(const std::string& cert_file, const std::string& key_file);
  uint16_t port() const;
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace evg::discovery
