// The deployment side of Core that is not the activation itself: history records, rollback and
// reset (src/daemon/README.md, "Deployment history, rollback, reset").

#include <filesystem>
#include <set>

#include "daemon/core.h"
#include "functions/arn.h"

namespace evg::daemon {

namespace asio = boost::asio;
using nlohmann::json;

DeploymentRecord Core::describe(const Prepared& p, const std::string& source, json* canonical) {
  json c = group::toJson(p.group);
  DeploymentRecord r;
  r.source = source;
  r.group_hash = groupHash(c);
  r.functions = p.function_versions;
  if (canonical != nullptr) *canonical = std::move(c);
  return r;
}

void Core::recordDeployment(DeploymentRecord r, std::optional<json> group,
                            std::function<void(std::optional<DeploymentRecord>)> then) {
  asio::post(pool_,
             [this, r = std::move(r), group = std::move(group), then = std::move(then)]() mutable {
               auto rec = history_->record(std::move(r), group ? &*group : nullptr);
               asio::post(io_, [this, rec = std::move(rec), then = std::move(then)]() mutable {
                 if (!rec) {
                   log_.error("deployment not recorded in the history: " + rec.status().message());
                   then(std::nullopt);
                 } else {
                   then(std::move(rec).value());
                 }
               });
             });
}

// On the pool, after a successful deployment was recorded (Core::deploy): old function versions
// beyond evergreen.functions.keepVersions are removed unless the active group, an alias or any
// deployment still in the history (a rollback target) uses them. Returns a log line or "".
std::string Core::pruneFunctionVersions() {
  auto keep = static_cast<size_t>(cfg_.evergreen.functions.keep_versions);
  if (keep == 0) return {};
  auto all = history_->list();
  if (!all) return "function versions not pruned: " + all.status().message();
  std::set<std::string> in_use;
  for (const auto& rec : *all) {
    for (const auto& arn : rec.functions) {
      auto a = functions::parseFunctionArn(arn);
      if (a && functions::isVersionNumber(a->qualifier))
        in_use.insert(a->name + ":" + a->qualifier);
    }
  }
  auto removed = store_->pruneVersions(keep, in_use);
  if (!removed) return "function versions not pruned: " + removed.status().message();
  if (removed->empty()) return {};
  std::string line =
      "removed old function versions (functions.keepVersions " + std::to_string(keep) + "):";
  for (const auto& v : *removed) line += " " + v;
  return line;
}

void Core::recordStartActivation(DeploymentRecord r, std::optional<json> group) {
  asio::post(pool_, [this, r = std::move(r), group = std::move(group)]() mutable {
    auto all = history_->list();
    if (all && !all->empty()) {
      const auto& last = all->back();
      if (last.group_hash == r.group_hash && last.succeeded == r.succeeded) return;
    }
    auto rec = history_->record(std::move(r), group ? &*group : nullptr);
    std::string msg = rec ? "" : rec.status().message();
    asio::post(io_, [this, msg] {
      if (!msg.empty()) log_.error("start activation not recorded in the history: " + msg);
    });
  });
}

void Core::rollback(std::optional<int64_t> id, std::function<void(Result<json>)> done) {
  if (!deploy_in_progress_.empty()) {
    done(Status::busy("another deployment is in progress (" + deploy_in_progress_ +
                      "); try again when it has finished"));
    return;
  }
  std::string active_hash = groupHash(group::toJson(policy_->group()));
  asio::post(pool_, [this, id, active_hash, done = std::move(done)]() mutable {
    auto target = history_->rollbackTarget(id, active_hash);
    Result<json> group = target ? history_->groupOf(target->id) : Result<json>(target.status());
    asio::post(io_, [this, target = std::move(target), group = std::move(group),
                     done = std::move(done)]() mutable {
      if (!group) {
        done(group.status());
        return;
      }
      log_.info("rollback: re-activating deployment " + std::to_string(target->id) + " (" +
                target->time + ", group " + target->group_hash.substr(0, 12) + ")");
      DeployMeta meta;
      meta.source = "rollback";
      meta.rollback_of = target->id;
      meta.expected_functions = target->functions;
      deploy(std::move(group).value(), std::move(meta), std::move(done));
    });
  });
}

void Core::reset(std::function<void(Result<json>)> done) {
  if (!deploy_in_progress_.empty()) {
    done(Status::busy("a deployment is in progress (" + deploy_in_progress_ +
                      "); try the reset again when it has finished"));
    return;
  }
  deploy_in_progress_ = "reset";
  // The empty group: every function stopped, no device may connect (open broker mode excepted).
  Status a = activate(Prepared{});
  if (!a) {
    deploy_in_progress_.clear();
    done(a.withContext("reset: "));
    return;
  }
  size_t shadows = 0;
  if (shadows_) {
    shadows = shadows_->stats().things;
    Status c = shadows_->clearAll();
    if (!c) log_.error("reset: shadows not cleared: " + c.message());
  }
  log_.warn("reset: group deactivated, functions stopped, local shadows cleared");
  asio::post(pool_, [this, shadows, done = std::move(done)]() mutable {
    std::error_code ec;
    std::filesystem::remove(paths_.group_file, ec);
    json result = {
        {"reset", true},
        {"cleared", {"active group (functions stopped)", paths_.group_file, "local shadows"}},
        {"kept", {"config", "certificates", "function store", "secrets", "deployment history"}},
        {"shadowsCached", shadows}};
    if (ec) result["groupFileError"] = ec.message();
    DeploymentRecord r;
    r.source = "reset";
    r.succeeded = true;
    r.message = "functions, group and local shadows cleared";
    auto rec = history_->record(std::move(r));
    if (rec) result["deploymentId"] = rec->id;
    asio::post(io_, [this, result = std::move(result), done = std::move(done)]() mutable {
      deploy_in_progress_.clear();
      done(std::move(result));
    });
  });
}

bool Core::refusedDuringJob(const std::string& op, ControlServer::Reply& reply) {
  std::string job = jobs_ ? jobs_->inFlight() : std::string();
  if (job.empty()) return false;
  std::string msg = op + " refused: " + job +
                    " is in flight (fleet deployment over AWS IoT Jobs); try again when it has "
                    "finished";
  log_.warn(msg);
  reply({{"ok", false}, {"error", msg}});
  return true;
}

bool Core::handleDeploymentControl(const std::string& op, const json& req,
                                   ControlServer::Reply& reply) {
  if ((op == "rollback" || op == "reset") && refusedDuringJob(op, reply)) return true;
  auto answer = [this, reply, op](Result<json> r) {
    if (!r) {
      log_.error(op + " refused: " + r.status().message());
      reply({{"ok", false}, {"error", r.status().message()}});
    } else {
      reply({{"ok", true}, {"result", *r}});
    }
  };
  if (op == "rollback") {
    std::optional<int64_t> id;
    if (req.contains("id")) {
      if (!req["id"].is_number_integer()) {
        reply({{"ok", false}, {"error", "rollback: \"id\" must be an integer deployment id"}});
        return true;
      }
      id = req["id"].get<int64_t>();
    }
    rollback(id, std::move(answer));
    return true;
  }
  if (op == "reset") {
    reset(std::move(answer));
    return true;
  }
  return false;
}

}  // namespace evg::daemon
