#pragma once
// Service: the stream manager protocol engine, sans-I/O. The server feeds it the bytes of each
// connection (data) and gets bytes to send and closes through Callbacks; nothing here touches a
// socket or a timer. Per connection: version byte -> ConnectRequest (auth, protocol version) ->
// ConnectResponse, then any number of requests in flight, each answered with its requestId.
// ReadMessages long-polls park until enough messages exist (onAppended) or their deadline
// passes (tick). See README.md for the flow.

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "streammgr/protocol.h"
#include "streammgr/store.h"

namespace evg::streammgr {

using ConnId = uint64_t;
using Clock = std::chrono::steady_clock;

struct ServiceOptions {
  uint32_t max_frame_bytes = 64u << 20;          // streamManager.maxFrameBytes (L incl. op byte)
  size_t max_message_bytes = 32u << 20;          // streamManager.maxMessageBytes (one append)
  int64_t max_read_timeout_ms = 3600000;         // streamManager.maxReadTimeoutMs
  size_t max_pending_reads_per_connection = 64;  // streamManager.maxPendingReadsPerConnection
  bool authenticate = true;                      // STREAM_MANAGER_AUTHENTICATE_CLIENT
  // Accepts a worker token (returns the function ARN) or nullopt.
  std::function<std::optional<std::string>(const std::string& token)> validate_token;
};

struct Callbacks {
  std::function<void(ConnId, std::string bytes)> send;
  std::function<void(ConnId, const std::string& reason)> close;  // after sending what was queued
  // flushOnWrite group commit: fdatasync and close `fds` (off the loop), then call `done` on the
  // loop. Unset: done inline.
  std::function<void(std::vector<int> fds, std::function<void()> done)> flush;
};

class Service {
 public:
  Service(StreamStore& store, ServiceOptions opts, Callbacks cb, Log log);
  void setExportHost(ExportHost* host) { host_ = host; }

  void opened(ConnId c);
  void data(ConnId c, std::string_view bytes);
  void closed(ConnId c);  // drops its parked reads
  // Answers parked reads whose deadline passed (NotEnoughMessages).
  void tick(Clock::time_point now);
  std::optional<Clock::time_point> nextDeadline() const;
  // A message was appended to `stream` (StreamStore's append listener): completes the parked
  // reads that now have enough messages.
  void onAppended(const std::string& stream);

  size_t connections() const { return conns_.size(); }
  size_t pendingReads() const { return parked_.size(); }
  const ServiceOptions& options() const { return opts_; }

  // Answers a decoded request (after the handshake); nullopt when parked. Public for tests.
  std::optional<std::pair<Op, nlohmann::json>> handle(ConnId c, Op op, const nlohmann::json& req,
                                                      Clock::time_point now);

 private:
  struct Conn {
    bool got_version = false;
    bool connected = false;
    bool closing = false;
    FrameDecoder decoder;
    size_t parked = 0;
    std::string client;
    explicit Conn(uint32_t max) : decoder(max) {}
  };
  struct Parked {
    ConnId conn;
    std::string request_id;
    std::string stream;
    ReadOptions opts;
    Clock::time_point deadline;
  };
  // Removes the parked read at `it` (advancing it) and its connection's count; returns it.
  Parked unpark(std::list<Parked>::iterator& it);
  void handshake(ConnId c, Conn& conn, const Frame& f);
  void dataImpl(ConnId c, std::string_view bytes);
  // Sends the answers held for durability after one fdatasync of the batch's segments.
  void commitHeld();
  void reply(ConnId c, Op op, const nlohmann::json& body);
  void fail(ConnId c, const std::string& reason);
  nlohmann::json readAnswer(const std::string& request_id, const std::string& stream,
                            const ReadOptions& o);
  nlohmann::json describe(const std::string& request_id, const std::string& name);

  StreamStore& store_;
  ServiceOptions opts_;
  Callbacks cb_;
  Log log_;
  ExportHost* host_ = nullptr;
  std::map<ConnId, Conn> conns_;
  std::list<Parked> parked_;
  std::vector<std::pair<ConnId, std::string>> held_;  // flushOnWrite answers awaiting fdatasync
  bool flush_in_flight_ = false;
  uint64_t next_client_ = 1;
};

// {requestId, status, errorMessage} for a response of `op`.
nlohmann::json statusBody(const std::string& request_id, StatusCode code,
                          const std::string& message);

}  // namespace evg::streammgr
