#include "shadow/shadow_service.h"

#include <chrono>

#include "base/json.h"

namespace evg::shadow {

namespace {

bool validThingName(std::string_view name, size_t max) {
  if (name.empty() || name.size() > max) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ':' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

ShadowService::ShadowService(ShadowServiceOptions opts, ShadowStore& store, PublishFn publish,
                             Log log)
    : opts_(std::move(opts)), store_(store), publish_(std::move(publish)), log_(std::move(log)) {
  if (!opts_.now_s) {
    opts_.now_s = [] {
      return std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

Result<ShadowService::Entry*> ShadowService::entry(const std::string& thing, bool create) {
  auto it = cache_.find(thing);
  if (it != cache_.end()) return &it->second;
  auto row = store_.load(thing);
  if (!row) return row.status();
  if (!*row && !create) return static_cast<Entry*>(nullptr);
  if (cache_.size() >= opts_.max_things) {
    return Status::busy("shadow limit reached (" + std::to_string(opts_.max_things) + " things)");
  }
  Entry e;
  if (*row) {
    e.version = (*row)->version;
    e.sync = (*row)->sync;
    if (!(*row)->document.empty()) {
      json j = parseJsonOrDiscarded((*row)->document);
      if (j.is_discarded() || !j.is_object()) {
        return Status::corruption("stored shadow of " + thing + " is not a JSON object");
      }
      e.doc = std::move(j);
    }
  }
  return &cache_.emplace(thing, std::move(e)).first->second;
}

Status ShadowService::persist(const std::string& thing, const Entry& e) {
  StoredShadow row{e.version, e.doc ? e.doc->dump() : std::string(), e.sync};
  Status s = store_.save(thing, row);
  if (!s) {
    ++stats_.store_errors;
    log_.error("shadow of " + thing + " not saved: " + s.message());
  }
  return s;
}

ShadowReply ShadowService::reject(const ShadowError& e) {
  ++stats_.rejected;
  return ShadowReply{false, e.code, errorPayload(e, opts_.now_s())};
}

ShadowReply ShadowService::handle(const std::string& thing, ShadowOp op, std::string_view payload,
                                  Origin origin) {
  const int64_t now = opts_.now_s();
  if (!validThingName(thing, opts_.max_thing_name_bytes)) {
    return reject({400, "Invalid thing name: '" + thing + "'", {}});
  }
  auto en = entry(thing, op == ShadowOp::kUpdate);
  if (!en) {
    log_.error("shadow of " + thing + ": " + en.status().message());
    return reject({500, "Internal service failure", {}});
  }
  Entry* e = *en;
  static const std::optional<json> kNone;
  const std::optional<json>& current = e ? e->doc : kNone;
  const bool mqtt = origin == Origin::kMqtt;
  auto respond = [&](ShadowReply r) {
    if (mqtt) {
      publish_(shadowTopic(thing, op, r.accepted ? "accepted" : "rejected"), r.payload);
    }
    return r;
  };

  switch (op) {
    case ShadowOp::kGet: {
      auto r = getResponse(current, thing, payload, now, opts_.limits);
      if (auto* err = std::get_if<ShadowError>(&r)) return respond(reject(*err));
      ++stats_.accepted;
      return respond({true, 200, std::get<std::string>(std::move(r))});
    }
    case ShadowOp::kDelete: {
      auto r = deleteResponse(current, thing, payload, now, opts_.limits);
      if (auto* err = std::get_if<ShadowError>(&r)) return respond(reject(*err));
      std::optional<json> prev = std::move(e->doc);
      e->doc.reset();
      if (!persist(thing, *e)) {
        e->doc = std::move(prev);
        return respond(reject({500, "Internal service failure", {}}));
      }
      ++stats_.accepted;
      ShadowReply reply{true, 200, std::get<std::string>(std::move(r))};
      if (!mqtt) publish_(shadowTopic(thing, op, "accepted"), reply.payload);
      respond(reply);
      if (observer_) observer_->onShadowChanged(thing, op, origin);
      return reply;
    }
    case ShadowOp::kUpdate: {
      auto r = applyUpdate(current, e->version, payload, now, opts_.limits);
      if (auto* err = std::get_if<ShadowError>(&r)) return respond(reject(*err));
      UpdateOutcome& out = std::get<UpdateOutcome>(r);
      Entry next = *e;
      next.version = out.document.value("version", e->version + 1);
      next.doc = std::move(out.document);
      if (!persist(thing, next)) return respond(reject({500, "Internal service failure", {}}));
      *e = std::move(next);
      ++stats_.accepted;
      ShadowReply reply{true, 200, std::move(out.accepted)};
      if (!mqtt) publish_(shadowTopic(thing, op, "accepted"), reply.payload);
      respond(reply);
      if (!out.delta.empty()) publish_(shadowTopic(thing, op, "delta"), out.delta);
      publish_(shadowTopic(thing, op, "documents"), out.documents);
      if (observer_) observer_->onShadowChanged(thing, op, origin);
      return reply;
    }
  }
  return reject({500, "Internal service failure", {}});
}

bool ShadowService::handleMqtt(std::string_view topic, std::string_view payload) {
  auto t = parseShadowRequestTopic(topic);
  if (!t) return false;
  handle(t->thing, t->op, payload, Origin::kMqtt);
  return true;
}

std::optional<json> ShadowService::document(const std::string& thing) {
  auto e = entry(thing, false);
  if (!e || *e == nullptr) return std::nullopt;
  return (*e)->doc;
}

std::string ShadowService::syncState(const std::string& thing) {
  auto e = entry(thing, false);
  if (!e || *e == nullptr) return {};
  return (*e)->sync;
}

Status ShadowService::setSyncState(const std::string& thing, std::string state) {
  auto e = entry(thing, true);
  if (!e) return e.status();
  Entry next = **e;
  next.sync = std::move(state);
  EVG_RETURN_IF_ERROR(persist(thing, next));
  **e = std::move(next);
  return Status::ok();
}

Status ShadowService::clearAll() {
  cache_.clear();
  return store_.clear();
}

ShadowStats ShadowService::stats() const {
  ShadowStats s = stats_;
  s.things = cache_.size();
  return s;
}

}  // namespace evg::shadow
