#include "shadow/shadow_sync.h"

#include "base/json.h"

namespace evg::shadow {

namespace {

constexpr const char* kSections[] = {"desired", "reported"};

json sectionOr(const json& state, const char* name) {
  if (state.is_object()) {
    auto it = state.find(name);
    if (it != state.end() && it->is_object()) return *it;
  }
  return json::object();
}

std::optional<json> child(const std::optional<json>& v, const std::string& key) {
  if (!v || !v->is_object()) return std::nullopt;
  auto it = v->find(key);
  if (it == v->end()) return std::nullopt;
  return *it;
}

}  // namespace

ShadowSync::ShadowSync(ShadowService& service, ShadowCloudLink& link, Log log)
    : service_(service), link_(link), log_(std::move(log)) {
  service_.setObserver(this);
}

ShadowSync::~ShadowSync() { service_.setObserver(nullptr); }

std::optional<json> ShadowSync::merge3(const std::optional<json>& base,
                                       const std::optional<json>& local,
                                       const std::optional<json>& cloud, bool prefer_cloud) {
  if (local == cloud) return local;
  if (local == base) return cloud;
  if (cloud == base) return local;
  if (local && cloud && local->is_object() && cloud->is_object()) {
    json out = json::object();
    std::set<std::string> keys;
    for (auto it = local->begin(); it != local->end(); ++it) keys.insert(it.key());
    for (auto it = cloud->begin(); it != cloud->end(); ++it) keys.insert(it.key());
    for (const auto& k : keys) {
      auto v = merge3(child(base, k), child(local, k), child(cloud, k), prefer_cloud);
      if (v) out[k] = std::move(*v);
    }
    return out;
  }
  return prefer_cloud ? cloud : local;
}

json ShadowSync::diffPatch(const json& from, const json& to) {
  json patch = json::object();
  for (auto it = to.begin(); it != to.end(); ++it) {
    auto f = from.find(it.key());
    if (f == from.end()) {
      patch[it.key()] = it.value();
    } else if (*f != it.value()) {
      if (f->is_object() && it.value().is_object() && !it.value().empty()) {
        patch[it.key()] = diffPatch(*f, it.value());
      } else {
        patch[it.key()] = it.value();
      }
    }
  }
  for (auto it = from.begin(); it != from.end(); ++it) {
    if (!to.contains(it.key())) patch[it.key()] = nullptr;
  }
  return patch;
}

ShadowSync::State ShadowSync::load(const std::string& thing) {
  State s;
  std::string text = service_.syncState(thing);
  if (text.empty()) return s;
  json j = parseJsonOrDiscarded(text);
  if (!j.is_object()) {
    log_.warn("sync state of " + thing + " unreadable; starting from an empty base");
    return s;
  }
  if (j.contains("base") && j["base"].is_object()) s.base = j["base"];
  s.cloud_version = j.value("cloudVersion", int64_t{0});
  return s;
}

void ShadowSync::save(const std::string& thing, const State& s) {
  json j{{"base", s.base}, {"cloudVersion", s.cloud_version}};
  Status st = service_.setSyncState(
      thing, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!st) log_.error("sync state of " + thing + " not saved: " + st.message());
}

std::string ShadowSync::token() { return "evg-sync-" + std::to_string(next_token_++); }

void ShadowSync::setSyncedThings(std::set<std::string> things) {
  std::set<std::string> added;
  for (const auto& t : things) {
    if (!things_.count(t)) added.insert(t);
  }
  things_ = std::move(things);
  if (!link_.connected()) return;
  for (const auto& t : added) {
    subscribeThing(t);
    fullSync(t);
  }
}

void ShadowSync::subscribeThing(const std::string& thing) {
  for (const char* suffix :
       {"get/accepted", "get/rejected", "update/documents", "update/rejected", "delete/accepted"}) {
    std::string op(suffix, std::string_view(suffix).find('/'));
    std::string rest(std::string_view(suffix).substr(op.size() + 1));
    ShadowOp o =
        op == "get" ? ShadowOp::kGet : (op == "update" ? ShadowOp::kUpdate : ShadowOp::kDelete);
    Status s = link_.subscribe(shadowTopic(thing, o, rest));
    if (!s) log_.warn("cloud subscribe for shadow of " + thing + " failed: " + s.message());
  }
}

void ShadowSync::fullSync(const std::string& thing) {
  ++stats_.full_syncs;
  Status s = link_.publish(shadowTopic(thing, ShadowOp::kGet),
                           json{{"clientToken", token()}}.dump(
                               -1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!s) ++stats_.push_errors;
}

void ShadowSync::onCloudConnected() {
  for (const auto& t : things_) subscribeThing(t);
  for (const auto& t : things_) fullSync(t);
}

void ShadowSync::reconcile(const std::string& thing, const json& cloud_state,
                           int64_t cloud_version) {
  State st = load(thing);
  auto doc = service_.document(thing);
  json local = doc ? stateOf(*doc) : json::object();
  json merged = json::object();
  json local_patch = json::object();
  json cloud_patch = json::object();
  for (const char* name : kSections) {
    json b = sectionOr(st.base, name);
    json l = sectionOr(local, name);
    json c = sectionOr(cloud_state, name);
    auto m = merge3(b, l, c, std::string_view(name) == "desired");
    json n = m ? *m : json::object();
    merged[name] = n;
    json lp = diffPatch(l, n);
    if (!lp.empty()) local_patch[name] = lp;
    json cp = diffPatch(c, n);
    if (!cp.empty()) cloud_patch[name] = cp;
  }
  if (!local_patch.empty()) {
    ShadowReply r = service_.handle(
        thing, ShadowOp::kUpdate,
        json{{"state", local_patch}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
        Origin::kCloud);
    if (!r.accepted) {
      log_.error("cloud shadow change of " + thing + " not applied locally: " + r.payload);
      return;  // base unchanged: retried at the next sync
    }
    ++stats_.pulled;
  }
  if (!cloud_patch.empty()) {
    Status s = link_.publish(shadowTopic(thing, ShadowOp::kUpdate),
                             json{{"state", cloud_patch}, {"clientToken", token()}}.dump(
                                 -1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (s) {
      ++stats_.pushed;
    } else {
      ++stats_.push_errors;
    }
  }
  st.base = merged;
  st.cloud_version = cloud_version;
  save(thing, st);
}

void ShadowSync::pushLocal(const std::string& thing) {
  if (!link_.connected()) return;
  State st = load(thing);
  auto doc = service_.document(thing);
  json local = doc ? stateOf(*doc) : json::object();
  json patch = json::object();
  for (const char* name : kSections) {
    json p = diffPatch(sectionOr(st.base, name), sectionOr(local, name));
    if (!p.empty()) patch[name] = p;
  }
  if (patch.empty()) return;
  Status s = link_.publish(shadowTopic(thing, ShadowOp::kUpdate),
                           json{{"state", patch}, {"clientToken", token()}}.dump(
                               -1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (s) {
    ++stats_.pushed;
  } else {
    ++stats_.push_errors;
  }
}

void ShadowSync::onShadowChanged(const std::string& thing, ShadowOp op, Origin origin) {
  if (origin == Origin::kCloud || !things_.count(thing)) return;
  if (op == ShadowOp::kDelete) {
    State st;  // empty base: the next merge starts afresh
    save(thing, st);
    if (link_.connected()) {
      Status s = link_.publish(shadowTopic(thing, ShadowOp::kDelete),
                               json{{"clientToken", token()}}.dump(
                                   -1, ' ', false, nlohmann::json::error_handler_t::replace));
      if (!s) ++stats_.push_errors;
    }
    return;
  }
  pushLocal(thing);
}

bool ShadowSync::onCloudMessage(const std::string& topic, const std::string& payload) {
  constexpr std::string_view kPrefix = "$aws/things/";
  if (topic.compare(0, kPrefix.size(), kPrefix) != 0) return false;
  size_t end = topic.find("/shadow/", kPrefix.size());
  if (end == std::string::npos) return false;
  std::string thing = topic.substr(kPrefix.size(), end - kPrefix.size());
  if (!things_.count(thing)) return false;
  std::string rest = topic.substr(end + 8);
  json j = parseJsonOrDiscarded(payload);
  if (!j.is_object()) {
    log_.warn("cloud shadow message on " + topic + " is not a JSON object; ignored");
    return true;
  }
  if (rest == "get/accepted") {
    reconcile(thing, j.value("state", json::object()), j.value("version", int64_t{0}));
  } else if (rest == "get/rejected") {
    if (j.value("code", 0) == 404) {
      reconcile(thing, json::object(), 0);
    } else {
      log_.warn("cloud shadow get of " + thing + " rejected: " + payload);
    }
  } else if (rest == "update/documents") {
    json cur = j.value("current", json::object());
    int64_t v = cur.value("version", int64_t{0});
    State st = load(thing);
    if (v != 0 && v <= st.cloud_version) {
      ++stats_.ignored_stale;
      return true;
    }
    reconcile(thing, cur.value("state", json::object()), v);
  } else if (rest == "update/rejected") {
    log_.warn("cloud rejected a shadow update of " + thing + ": " + payload);
  } else if (rest == "delete/accepted") {
    State st;
    save(thing, st);
    if (service_.document(thing)) {
      service_.handle(thing, ShadowOp::kDelete, "", Origin::kCloud);
      ++stats_.pulled;
    }
  }
  return true;
}

}  // namespace evg::shadow
