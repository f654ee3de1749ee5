#pragma once
// Drain: the spooler's send loop, pipelined. Moves messages from the Spool to a connected
// ClientSession as QoS 1 PUBLISHes, keeping up to `window` unacknowledged at once (AWS IoT Core
// allows 100 in flight per connection), not stop-and-wait:
//
//   onConnected  -> spool.rewind(): every unacknowledged message is unsent again (at-least-once;
//                   those are counted as resent and go out with DUP=1), then pump()
//   pump         -> while inflight < window: publish spool.nextUnsent(), markSent
//   onPuback(id) -> spool.ack(seq): the message leaves the spool only now; pump again
//   onDisconnected -> forget packet ids (the spool still holds the messages)
//
// Sends go out in seq order on one connection, so order per topic is kept, also across
// reconnects (a rewind restarts from the oldest unacknowledged message).
// Loop thread only; sans-I/O (the transport writes session.output()).

#include <cstdint>
#include <unordered_map>
#include <unordered_set>

#include "cloud/session.h"
#include "spool/spool.h"

namespace evg::cloud {

struct DrainStats {
  uint64_t sent = 0;    // PUBLISHes written (first sends and resends)
  uint64_t resent = 0;  // sends of a message already sent on an earlier connection
  uint64_t acked = 0;   // PUBACKs that removed a message from the spool
  size_t inflight = 0;
};

class Drain {
 public:
  Drain(spool::Spool& spool, size_t window) : spool_(spool), window_(window == 0 ? 1 : window) {}

  void onConnected(ClientSession& session);
  void onDisconnected();
  // Sends as much as the window allows; returns how many PUBLISHes were written.
  size_t pump(ClientSession& session);
  // True when the PUBACK was for one of our publishes.
  bool onPuback(uint16_t packet_id);

  void setWindow(size_t w) { window_ = w == 0 ? 1 : w; }
  size_t window() const { return window_; }
  const DrainStats& stats() const { return stats_; }

 private:
  spool::Spool& spool_;
  size_t window_;
  std::unordered_map<uint16_t, uint64_t> inflight_;  // packet id -> spool seq
  std::unordered_set<uint64_t> sent_before_;         // seqs sent on an earlier connection
  DrainStats stats_;
};

}  // namespace evg::cloud
