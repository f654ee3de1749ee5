#pragma once
// StreamManager: the GGStreamManager module of the core on its Asio loop. Owns the store, the
// sans-I/O Service, a loopback TCP listener (TCP_NODELAY, connection limit), a timer for
// long-poll deadlines, a group-commit sync timer and a TTL timer.

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/accept_backoff.h"
#include "base/asio.h"
#include "base/log.h"
#include "base/status.h"
#include "streammgr/service.h"
#include "streammgr/store.h"

namespace evg::streammgr {

struct StreamManagerOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 8088;                 // STREAM_MANAGER_SERVER_PORT (0: ephemeral, tests)
  std::string store_root;               // STREAM_MANAGER_STORE_ROOT_DIR (DIR/var/stream-manager)
  size_t max_connections = 64;          // streamManager.maxConnections
  uint32_t sync_interval_ms = 1000;     // streamManager.syncIntervalMs (group commit fdatasync)
  uint32_t expiry_interval_ms = 10000;  // TTL sweep
  size_t max_streams = 1000;            // streamManager.maxStreams
  size_t max_write_queue_bytes = 64u << 20;  // per connection; above it the connection is closed
  ServiceOptions service;
  // Exporter settings from the group (v1 env vars), for src/streammgr/export.
  std::optional<int64_t> exporter_max_bandwidth;  // STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH
  int exporter_thread_pool_size = 5;              // ..._EXPORTER_THREAD_POOL_SIZE
  int64_t s3_multipart_min_part_size = 5242880;   // ..._MULTIPART_UPLOAD_MIN_PART_SIZE_BYTES
  std::vector<std::string> read_only_dirs;        // STREAM_MANAGER_READ_ONLY_DIRS
  std::vector<std::string> unused_settings;       // e.g. JVM_ARGS: logged as unused
};

class StreamManager {
 public:
  StreamManager(boost::asio::io_context& io, StreamManagerOptions opts, Log log);
  ~StreamManager();
  Status start();
  void stop();
  uint16_t port() const { return port_; }
  const StreamManagerOptions& options() const { return opts_; }
  StreamStore& store() { return *store_; }
  Service& service() { return *service_; }
  void setExportHost(ExportHost* host);
  // `evergreen status` -> streamManager.
  nlohmann::json status() const;

 private:
  struct Connection;
  void accept();
  void armDeadline();
  void armSync();
  void armExpiry();
  void send(ConnId c, std::string bytes);
  void closeConn(ConnId c, const std::string& reason);
  void flushWrites(Connection& c);

  boost::asio::io_context& io_;
  StreamManagerOptions opts_;
  Log log_;
  std::unique_ptr<StreamStore> store_;
  std::unique_ptr<Service> service_;
  ExportHost* host_ = nullptr;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer deadline_timer_;
  boost::asio::steady_timer sync_timer_;
  boost::asio::steady_timer expiry_timer_;
  AcceptBackoff accept_backoff_{io_};  // out of descriptors: retry later, do not spin
  boost::asio::thread_pool pool_{1};   // group-commit fdatasync off the loop
  uint64_t syncs_ = 0;
  uint64_t flushes_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for completions after stop
  std::map<ConnId, std::shared_ptr<Connection>> conns_;
  ConnId next_id_ = 1;
  uint16_t port_ = 0;
  bool stopped_ = false;
  uint64_t refused_connections_ = 0;
};

}  // namespace evg::streammgr
