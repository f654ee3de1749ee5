#pragma once
// BrokerStore: the blocking, durable half of broker persistence (persist.h). One SQLite database
// in WAL mode (synchronous=NORMAL: a committed batch survives kill -9; a power loss may roll back
// the last batches), by default <writeDirectory>/var/spool/broker.db beside the cloud spool:
//
//   sessions(client_id PK, identity)
//   subscriptions(client_id, filter, qos)                       PK (client_id, filter)
//   messages(seq PK, client_id, topic, payload, qos, retain, packet_id, awaiting_comp)
//   retained(topic PK, payload, qos, source)
//
// commit() applies a batch of PersistOps in order in one transaction (group commit: the broker
// sends whatever accumulated while the previous commit ran). A corrupt file is moved aside to
// <path>.corrupt-<unix-seconds> and a fresh store is created (as the spool does).
//
// Thread safety: none; used from the broker's single persistence thread (and open/load before
// the broker serves).

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "broker/persist.h"

struct sqlite3;
struct sqlite3_stmt;

namespace evg::broker {

class BrokerStore {
 public:
  ~BrokerStore();
  BrokerStore(const BrokerStore&) = delete;
  BrokerStore& operator=(const BrokerStore&) = delete;

  static Result<std::unique_ptr<BrokerStore>> open(const std::string& path);
  // Everything stored: sessions with their subscriptions and messages (seq order), retained.
  Result<RestoredState> load();
  // One transaction; cancelled ops are skipped.
  Status commit(const std::vector<PersistOp>& ops);

  const std::string& path() const { return path_; }
  const std::string& moved_aside() const { return moved_aside_; }

 private:
  BrokerStore() = default;
  Status openOnce();
  Status exec(const char* sql);
  Status prepare(const char* sql, sqlite3_stmt** st);
  void close();

  std::string path_;
  std::string moved_aside_;
  sqlite3* db_ = nullptr;
  enum Stmt {
    kSessionSave,
    kSessionDelete,
    kSessionSubsDelete,
    kSessionMsgsDelete,
    kSubscribe,
    kUnsubscribe,
    kMessageAdd,
    kMessageState,
    kMessageDelete,
    kRetainedSet,
    kRetainedDelete,
    kStmtCount
  };
  sqlite3_stmt* stmts_[kStmtCount] = {};
};

}  // namespace evg::broker
