#include "cloud/drain.h"

namespace evg::cloud {

void Drain::onConnected(ClientSession& session) {
  inflight_.clear();
  stats_.inflight = 0;
  spool_.rewind();
  // Forget resend marks of messages no longer queued (acked late or dropped as oldest).
  const spool::SpoolEntry* oldest = spool_.nextUnsent();
  std::erase_if(sent_before_, [&](uint64_t seq) { return oldest == nullptr || seq < oldest->seq; });
  pump(session);
}

void Drain::onDisconnected() {
  // Whatever was in flight may or may not have arrived: remember it to mark the resend DUP.
  for (const auto& [id, seq] : inflight_) sent_before_.insert(seq);
  inflight_.clear();
  stats_.inflight = 0;
}

size_t Drain::pump(ClientSession& session) {
  if (!session.connected()) return 0;
  size_t n = 0;
  while (inflight_.size() < window_) {
    const spool::SpoolEntry* e = spool_.nextUnsent();
    if (e == nullptr) break;
    bool dup = sent_before_.erase(e->seq) > 0;
    if (dup) ++stats_.resent;
    uint16_t id = session.publish(e->topic, e->payload ? *e->payload : std::string(), dup);
    inflight_[id] = e->seq;
    spool_.markSent(e->seq);
    ++stats_.sent;
    ++n;
  }
  stats_.inflight = inflight_.size();
  return n;
}

bool Drain::onPuback(uint16_t packet_id) {
  auto it = inflight_.find(packet_id);
  if (it == inflight_.end()) return false;
  if (spool_.ack(it->second)) ++stats_.acked;
  inflight_.erase(it);
  stats_.inflight = inflight_.size();
  return true;
}

}  // namespace evg::cloud
