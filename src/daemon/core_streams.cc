// Core's stream manager (src/streammgr): enabled like v1 by the group's function entry
// arn:aws:lambda:::function:GGStreamManager:1, configured by its environment variables, run on the
// core's loop on 127.0.0.1:STREAM_MANAGER_SERVER_PORT. Functions authenticate with their worker
// token (the IPC server's registry).

#include <cstdlib>

#include "daemon/core.h"
#include "streammgr/export/export_manager.h"

namespace evg::daemon {

using nlohmann::json;

namespace {

constexpr const char* kStreamManagerArn = "arn:aws:lambda:::function:GGStreamManager";

Result<int64_t> envInt(const std::string& where, const std::string& v, int64_t lo, int64_t hi) {
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || end == nullptr || *end != '\0' || errno != 0 || n < lo || n > hi) {
    return Status::invalid(where + ": expected an integer from " + std::to_string(lo) + " to " +
                           std::to_string(hi) + ", got \"" + v + "\"");
  }
  return static_cast<int64_t>(n);
}

// The exporters' credentials: the token exchange's (evergreen.tes), else an error naming the
// missing configuration (shown in exportStatuses[].errorMessage while exports wait).
class ExportCredentials : public aws::CredentialsSource {
 public:
  explicit ExportCredentials(const std::unique_ptr<tes::CredentialProvider>& tes) : tes_(tes) {}
  Result<aws::Credentials> currentCredentials() override {
    if (tes_ == nullptr) {
      return Status::busy(
          "no AWS credentials: the token exchange (evergreen.tes) is not configured or not "
          "started on this core");
    }
    return tes_->currentCredentials();
  }

 private:
  const std::unique_ptr<tes::CredentialProvider>& tes_;
};

}  // namespace

Result<std::optional<streammgr::StreamManagerOptions>> Core::streamManagerOptions(
    const group::Group& g) const {
  const group::Function* fn = nullptr;
  for (const auto& f : g.functions) {
    if (f.arn.rfind(kStreamManagerArn, 0) == 0) fn = &f;
  }
  if (fn == nullptr) return std::optional<streammgr::StreamManagerOptions>();
  const auto& c = cfg_.evergreen.stream_manager;
  streammgr::StreamManagerOptions o;
  o.store_root = cfg_.write_directory + "/var/stream-manager";
  o.max_connections = static_cast<size_t>(c.max_connections);
  o.sync_interval_ms = static_cast<uint32_t>(c.sync_interval_ms);
  o.max_streams = static_cast<size_t>(c.max_streams);
  o.service.max_frame_bytes = static_cast<uint32_t>(c.max_frame_bytes);
  o.service.max_message_bytes = static_cast<size_t>(c.max_message_bytes);
  o.service.max_read_timeout_ms = c.max_read_timeout_ms;
  o.service.max_pending_reads_per_connection =
      static_cast<size_t>(c.max_pending_reads_per_connection);
  if (fn->configuration && fn->configuration->environment &&
      fn->configuration->environment->variables) {
    std::string where = "Functions[Id=" + fn->id + "].Configuration.Environment.Variables.";
    for (const auto& [k, v] : *fn->configuration->environment->variables) {
      if (k == "STREAM_MANAGER_STORE_ROOT_DIR") {
        if (v.empty()) return Status::invalid(where + k + ": must not be empty");
        o.store_root = v[0] == '/' ? v : cfg_.write_directory + "/" + v;
      } else if (k == "STREAM_MANAGER_SERVER_PORT") {
        auto n = envInt(where + k, v, 1, 65535);
        if (!n) return n.status();
        o.port = static_cast<uint16_t>(*n);
      } else if (k == "STREAM_MANAGER_AUTHENTICATE_CLIENT") {
        std::string l;
        for (char ch : v)
          l.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
        if (l != "true" && l != "false") {
          return Status::invalid(where + k + ": expected true or false, got \"" + v + "\"");
        }
        o.service.authenticate = l == "true";
      } else if (k == "STREAM_MANAGER_EXPORTER_MAX_BANDWIDTH") {
        auto n = envInt(where + k, v, 1, INT64_MAX);
        if (!n) return n.status();
        o.exporter_max_bandwidth = *n;
      } else if (k == "STREAM_MANAGER_EXPORTER_THREAD_POOL_SIZE") {
        auto n = envInt(where + k, v, 1, 1024);
        if (!n) return n.status();
        o.exporter_thread_pool_size = static_cast<int>(*n);
      } else if (k ==
                 "STREAM_MANAGER_EXPORTER_S3_DESTINATION_MULTIPART_UPLOAD_MIN_PART_SIZE_BYTES") {
        auto n = envInt(where + k, v, 5242880, INT64_MAX);
        if (!n) return n.status();
        o.s3_multipart_min_part_size = *n;
      } else if (k == "STREAM_MANAGER_READ_ONLY_DIRS") {
        size_t pos = 0;
        while (pos <= v.size()) {
          size_t comma = v.find(',', pos);
          std::string d =
              v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
          if (!d.empty()) {
            if (d[0] != '/') return Status::invalid(where + k + ": \"" + d + "\" is not absolute");
            o.read_only_dirs.push_back(d);
          }
          if (comma == std::string::npos) break;
          pos = comma + 1;
        }
      } else if (k == "JVM_ARGS") {
        o.unused_settings.push_back(k);
      } else {
        o.unused_settings.push_back(k);
      }
    }
  }
  return std::optional<streammgr::StreamManagerOptions>(std::move(o));
}

void Core::applyStreamManager(const group::Group& g) {
  auto o = streamManagerOptions(g);
  if (!o) {  // validated in prepare(); a stored group may still carry a bad value
    stream_error_ = o.status().message();
    log_.error("stream manager not started: " + stream_error_);
    return;
  }
  Log slog(&logger_, "GGStreamManager");
  if (!*o) {
    if (stream_) {
      slog.info("GGStreamManager is no longer in the group: stopping");
      stopExports();
      stream_->stop();
      stream_.reset();
    }
    stream_error_.clear();
    return;
  }
  streammgr::StreamManagerOptions& opts = **o;
  if (stream_ && stream_->options().port == opts.port &&
      stream_->options().store_root == opts.store_root &&
      stream_->options().service.authenticate == opts.service.authenticate) {
    return;  // unchanged: streams, connections and long-polls stay
  }
  if (stream_) {
    slog.info("GGStreamManager settings changed: restarting (Memory streams are lost)");
    stopExports();
    stream_->stop();
    stream_.reset();
  }
  for (const auto& k : opts.unused_settings) {
    slog.warn(k + " is accepted and not used (Evergreen's stream manager is not a JVM)");
  }
  opts.service.validate_token = [this](const std::string& token) -> std::optional<std::string> {
    return host_ ? host_->functionForToken(token) : std::nullopt;
  };
  auto sm = std::make_unique<streammgr::StreamManager>(io_, opts, slog);
  Status s = sm->start();
  if (!s) {
    stream_error_ = s.message();
    slog.error("stream manager not started: " + s.message());
    return;
  }
  stream_error_.clear();
  stream_ = std::move(sm);
  startExports(*stream_, opts);
  if (host_) host_->setStreamManagerPort(stream_->port());
  slog.info("stream manager listening on 127.0.0.1:" + std::to_string(stream_->port()) +
            ", store " + opts.store_root +
            ", authenticate clients: " + (opts.service.authenticate ? "true" : "false"));
}

void Core::startExports(streammgr::StreamManager& sm, const streammgr::StreamManagerOptions& o) {
  Log elog(&logger_, "GGStreamManager");
  const auto& c = cfg_.evergreen.stream_manager;
  export_creds_ = std::make_unique<ExportCredentials>(tes_);
  aws::HttpClientOptions ho;
  ho.max_attempts = 2;  // the exporters back off themselves beyond that
  ho.max_idle_per_endpoint = static_cast<size_t>(std::max(1, o.exporter_thread_pool_size));
  auto http = aws::HttpClient::create(io_, ho, aws::TlsOptions{}, elog);
  if (!http) {
    elog.error("exporters not started: " + http.status().message());
    return;
  }
  export_http_ = std::move(http).value();
  streammgr::exporter::ExportOptions eo;
  eo.region = !c.export_region.empty()          ? c.export_region
              : !cfg_.core_thing.region.empty() ? cfg_.core_thing.region
                                                : std::string("us-east-1");
  for (const auto& [k, v] : c.export_endpoints) eo.endpoints[k] = v;
  eo.maxBandwidthBytesPerSec =
      o.exporter_max_bandwidth ? static_cast<uint64_t>(*o.exporter_max_bandwidth) : 0;
  eo.maxInFlight = static_cast<size_t>(std::max(1, o.exporter_thread_pool_size));
  eo.retryMaxMs = static_cast<uint32_t>(c.export_retry_max_ms);
  eo.retryInitialMs = std::min<uint32_t>(1000, eo.retryMaxMs);
  eo.s3.minPartBytes = o.s3_multipart_min_part_size;
  auto m = streammgr::exporter::ExportManager::create(io_, sm.store(), *export_http_,
                                                      *export_creds_, eo, elog);
  if (!m) {
    elog.error("exporters not started: " + m.status().message());
    export_http_->shutdown();
    export_http_.reset();
    return;
  }
  exports_ = std::move(m).value();
  // Streams recovered from disk get their exporters now; later ones through the store.
  for (const auto& name : sm.store().list()) {
    auto def = sm.store().definition(name);
    if (!def) continue;
    Status s = exports_->configure(name, def->export_definition);
    if (!s) elog.error("stream " + name + ": exporters not configured: " + s.message());
  }
  sm.setExportHost(exports_.get());
}

void Core::stopExports() {
  if (stream_) stream_->setExportHost(nullptr);
  if (exports_) exports_->stop();
  if (export_http_) export_http_->shutdown();
  exports_.reset();
  export_http_.reset();
  export_creds_.reset();
}

json Core::streamManagerStatus() const {
  if (stream_) return stream_->status();
  json j = {{"enabled", false}};
  if (!stream_error_.empty()) j["error"] = stream_error_;
  return j;
}

}  // namespace evg::daemon
