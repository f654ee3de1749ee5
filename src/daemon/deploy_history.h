#pragma once
// Deployment history: one record per activation attempt of a group on this core.
//
//   DIR/var/deployments/history.jsonl      one JSON object per line, oldest first, bounded to
//                                          DeployHistoryOptions::max_entries (config
//                                          "evergreen.deployments.maxHistory"); rewritten
//                                          atomically (temp + fsync + rename) on every record
//   DIR/var/deployments/groups/<id>.json   the group JSON of each kept successful deployment
//                                          (what `evergreen deploy --rollback ID` re-activates)
//
// A record: id (increasing integer, never reused while the file exists), source (deploy | start |
// rollback | reset | import | job), time (UTC, RFC 3339 with milliseconds), groupHash (lowercase
// hex SHA-256 of the canonical group JSON: `group::toJson(parsed).dump()`, keys sorted, no
// spaces), functions (the resolved function version ARNs the group runs), result ("succeeded" |
// "rejected") and message (the rejection reason, or a note such as "re-activates 3").
//
// Blocking file I/O: the core calls it only on its pool thread (one thread, so calls are
// serialised); the CLI calls it directly (`deployments list|show`, `reset --force`). Not
// thread-safe.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace evg::daemon {

struct DeploymentRecord {
  int64_t id = 0;  // assigned by DeployHistory::record
  std::string source;
  std::string time;  // assigned by DeployHistory::record when empty
  std::string group_hash;
  std::vector<std::string> functions;
  bool succeeded = false;
  std::string message;
  std::optional<int64_t> rollback_of;  // source rollback: the id re-activated
  bool has_group = false;              // groups/<id>.json kept (successful and not reset)

  nlohmann::json toJson() const;
  static Result<DeploymentRecord> fromJson(const nlohmann::json& j);
};

struct DeployHistoryOptions {
  std::string dir;          // DIR/var/deployments
  size_t max_entries = 50;  // records kept; older ones (and their group files) are removed
};

// Lowercase hex SHA-256 of `canonical.dump()`.
std::string groupHash(const nlohmann::json& canonical);
// "2026-12-04T19:30:00.123Z" for now.
std::string utcNowRfc3339();
// DIR/var/deployments for a root directory.
std::string deploymentsDirOf(const std::string& root);

class DeployHistory {
 public:
  explicit DeployHistory(DeployHistoryOptions opts);

  // Appends `r` (id = last id + 1, time = now when empty). When `group` is given and the record
  // succeeded, keeps it as groups/<id>.json. Trims to max_entries. Returns the stored record.
  Result<DeploymentRecord> record(DeploymentRecord r, const nlohmann::json* group = nullptr);
  // Oldest first. An empty or missing file is an empty history; a line that does not parse is a
  // Corruption error naming the file and line.
  Result<std::vector<DeploymentRecord>> list() const;
  // NotFound naming the id (never recorded or trimmed).
  Result<DeploymentRecord> get(int64_t id) const;
  // The group JSON kept for a successful deployment.
  Result<nlohmann::json> groupOf(int64_t id) const;
  // What `deploy --rollback [ID]` re-activates: the given id (must have succeeded and still have
  // its group), or else the most recent successful deployment whose group hash differs from
  // `active_hash` (the group running now). NotFound / Invalid with a message saying why not.
  Result<DeploymentRecord> rollbackTarget(std::optional<int64_t> id,
                                          const std::string& active_hash) const;

  const std::string& historyFile() const { return file_; }

 private:
  std::string groupFile(int64_t id) const;
  DeployHistoryOptions opts_;
  std::string file_;
};

}  // namespace evg::daemon
