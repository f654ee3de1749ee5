#include "shadow/shadow_document.h"

#include <utility>

#include "base/json.h"

namespace evg::shadow {

namespace {

constexpr std::string_view kPrefix = "$aws/things/";
constexpr std::string_view kShadowPart = "/shadow/";

ShadowError err(int code, std::string message, std::string token = {}) {
  return ShadowError{code, std::move(message), std::move(token)};
}

ShadowError tooLarge(std::string token = {}) {
  return err(413, "The payload exceeds the maximum size allowed", std::move(token));
}

int depthOf(const json& v) {
  if (!v.is_object() && !v.is_array()) return 0;
  int d = 0;
  for (const auto& e : v) d = std::max(d, depthOf(e));
  return d + 1;
}

// Leaf metadata mirroring `v`: objects recurse, arrays become arrays of element metadata.
json metadataFor(const json& v, int64_t ts) {
  if (v.is_object()) {
    json m = json::object();
    for (auto it = v.begin(); it != v.end(); ++it) m[it.key()] = metadataFor(it.value(), ts);
    return m;
  }
  if (v.is_array()) {
    json m = json::array();
    for (const auto& e : v) m.push_back(metadataFor(e, ts));
    return m;
  }
  return json{{"timestamp", ts}};
}

// Merges `patch` into `target` (both objects); nulls delete; keeps `meta` in step.
void merge(json& target, json& meta, const json& patch, int64_t ts) {
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (v.is_null()) {
      target.erase(k);
      meta.erase(k);
    } else if (v.is_object()) {
      if (!target.contains(k) || !target[k].is_object()) {
        target[k] = json::object();
        meta[k] = json::object();
      }
      if (!meta.contains(k) || !meta[k].is_object()) meta[k] = json::object();
      merge(target[k], meta[k], v, ts);
      if (target[k].empty() && !v.empty()) {
        target.erase(k);
        meta.erase(k);
      }
    } else {
      target[k] = v;
      meta[k] = metadataFor(v, ts);
    }
  }
}

// Metadata restricted to the keys present in `shape`.
json metadataSubset(const json& meta, const json& shape) {
  if (!shape.is_object() || !meta.is_object()) return meta;
  json out = json::object();
  for (auto it = shape.begin(); it != shape.end(); ++it) {
    auto m = meta.find(it.key());
    if (m != meta.end()) out[it.key()] = metadataSubset(*m, it.value());
  }
  return out;
}

const json& section(const json& doc, const char* outer, const char* name) {
  static const json kEmpty = json::object();
  auto o = doc.find(outer);
  if (o == doc.end() || !o->is_object()) return kEmpty;
  auto s = o->find(name);
  if (s == o->end() || !s->is_object()) return kEmpty;
  return *s;
}

// Drops empty desired/reported sections so the stored form stays canonical.
void prune(json& doc) {
  for (const char* outer : {"state", "metadata"}) {
    json& o = doc[outer];
    for (const char* name : {"desired", "reported"}) {
      if (o.contains(name) && o[name].is_object() && o[name].empty()) o.erase(name);
    }
  }
}

json versionedView(const json& doc) {
  return json{
      {"state", doc.at("state")}, {"metadata", doc.at("metadata")}, {"version", doc.at("version")}};
}

// Parses an optional {"clientToken":...} body of get/delete requests.
std::variant<std::string, ShadowError> tokenOf(std::string_view payload,
                                               const ShadowLimits& limits) {
  if (payload.empty()) return std::string();
  json j = parseJsonOrDiscarded(payload);
  if (j.is_discarded() || !j.is_object()) {
    // The SDKs send an empty body (Python/Node) or "{}" (Java); anything else is tolerated only
    // when it is a JSON object.
    return err(400, "Invalid JSON");
  }
  auto t = j.find("clientToken");
  if (t == j.end()) return std::string();
  if (!t->is_string() || t->get_ref<const std::string&>().size() > limits.max_client_token_bytes) {
    return err(400, "Invalid clientToken");
  }
  return t->get<std::string>();
}

std::string noShadow(std::string_view thing) {
  return "No shadow exists with name: '" + std::string(thing) + "'";
}

}  // namespace

std::string_view shadowOpName(ShadowOp op) {
  switch (op) {
    case ShadowOp::kGet:
      return "get";
    case ShadowOp::kUpdate:
      return "update";
    case ShadowOp::kDelete:
      return "delete";
  }
  return "get";
}

std::optional<ShadowTopic> parseShadowRequestTopic(std::string_view topic) {
  if (topic.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view rest = topic.substr(kPrefix.size());
  size_t p = rest.find(kShadowPart);
  if (p == std::string_view::npos || p == 0) return std::nullopt;
  std::string_view thing = rest.substr(0, p);
  if (thing.find('/') != std::string_view::npos) return std::nullopt;
  std::string_view op = rest.substr(p + kShadowPart.size());
  ShadowTopic t;
  t.thing = std::string(thing);
  if (op == "get") {
    t.op = ShadowOp::kGet;
  } else if (op == "update") {
    t.op = ShadowOp::kUpdate;
  } else if (op == "delete") {
    t.op = ShadowOp::kDelete;
  } else {
    return std::nullopt;
  }
  return t;
}

std::string shadowTopic(std::string_view thing, ShadowOp op, std::string_view suffix) {
  std::string t = std::string(kPrefix) + std::string(thing) + std::string(kShadowPart) +
                  std::string(shadowOpName(op));
  if (!suffix.empty()) t += "/" + std::string(suffix);
  return t;
}

std::string errorPayload(const ShadowError& e, int64_t now_s) {
  json j{{"code", e.code}, {"message", e.message}, {"timestamp", now_s}};
  if (!e.client_token.empty()) j["clientToken"] = e.client_token;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

json computeDelta(const json& desired, const json& reported) {
  json d = json::object();
  if (!desired.is_object()) return d;
  for (auto it = desired.begin(); it != desired.end(); ++it) {
    auto r = reported.is_object() ? reported.find(it.key()) : reported.end();
    if (!reported.is_object() || r == reported.end()) {
      d[it.key()] = it.value();
    } else if (it.value().is_object() && r->is_object()) {
      json sub = computeDelta(it.value(), *r);
      if (!sub.empty()) d[it.key()] = std::move(sub);
    } else if (it.value() != *r) {
      d[it.key()] = it.value();
    }
  }
  return d;
}

json stateOf(const json& document) {
  json s = json::object();
  for (const char* name : {"desired", "reported"}) {
    const json& sec = section(document, "state", name);
    if (!sec.empty()) s[name] = sec;
  }
  return s;
}

std::variant<UpdateOutcome, ShadowError> applyUpdate(const std::optional<json>& current,
                                                     int64_t current_version,
                                                     std::string_view payload, int64_t now_s,
                                                     const ShadowLimits& limits) {
  if (payload.empty()) return err(400, "Missing update payload");
  json req = parseJsonOrDiscarded(payload);
  if (req.is_discarded() || !req.is_object()) return err(400, "Invalid JSON");
  std::string token;
  if (auto t = req.find("clientToken"); t != req.end()) {
    if (!t->is_string() ||
        t->get_ref<const std::string&>().size() > limits.max_client_token_bytes) {
      return err(400, "Invalid clientToken");
    }
    token = t->get<std::string>();
  }
  if (payload.size() > limits.max_document_bytes) return tooLarge(token);
  std::optional<int64_t> expected;
  if (auto v = req.find("version"); v != req.end()) {
    if (!v->is_number_integer() || v->get<int64_t>() < 0) {
      return err(400, "Invalid version", token);
    }
    expected = v->get<int64_t>();
  }
  auto st = req.find("state");
  if (st == req.end()) return err(400, "Missing required node: state", token);
  if (!st->is_object()) return err(400, "State node must be an object", token);
  for (auto it = st->begin(); it != st->end(); ++it) {
    if (it.key() != "desired" && it.key() != "reported") {
      return err(400, "State contains an invalid node: '" + it.key() + "'", token);
    }
    if (!it.value().is_object() && !it.value().is_null()) {
      return err(
          400,
          std::string(it.key() == "desired" ? "Desired" : "Reported") + " node must be an object",
          token);
    }
    if (depthOf(it.value()) > limits.max_depth) {
      return err(400,
                 "JSON contains too many levels of nesting; maximum is " +
                     std::to_string(limits.max_depth),
                 token);
    }
  }
  if (expected && *expected != current_version) return err(409, "Version conflict", token);

  json doc = current ? *current : json{{"state", json::object()}, {"metadata", json::object()}};
  if (!doc.contains("state") || !doc["state"].is_object()) doc["state"] = json::object();
  if (!doc.contains("metadata") || !doc["metadata"].is_object()) doc["metadata"] = json::object();
  json previous = current ? versionedView(doc) : json();

  json accepted_meta = json::object();
  bool desired_changed = false;
  for (auto it = st->begin(); it != st->end(); ++it) {
    const std::string& name = it.key();
    if (name == "desired") desired_changed = true;
    if (it.value().is_null()) {
      doc["state"].erase(name);
      doc["metadata"].erase(name);
      accepted_meta[name] = json{{"timestamp", now_s}};
      continue;
    }
    json& target = doc["state"][name];
    if (!target.is_object()) target = json::object();
    json& meta = doc["metadata"][name];
    if (!meta.is_object()) meta = json::object();
    merge(target, meta, it.value(), now_s);
    accepted_meta[name] = metadataFor(it.value(), now_s);
  }
  prune(doc);
  if (doc["state"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size() >
      limits.max_document_bytes)
    return tooLarge(token);
  int64_t version = current_version + 1;
  doc["version"] = version;
  doc["timestamp"] = now_s;

  UpdateOutcome out;
  out.desired_changed = desired_changed;
  json acc{{"state", *st}, {"metadata", accepted_meta}, {"version", version}, {"timestamp", now_s}};
  if (!token.empty()) acc["clientToken"] = token;
  out.accepted = acc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);

  json delta = computeDelta(section(doc, "state", "desired"), section(doc, "state", "reported"));
  if (desired_changed && !delta.empty()) {
    json dj{{"version", version},
            {"timestamp", now_s},
            {"state", delta},
            {"metadata", metadataSubset(section(doc, "metadata", "desired"), delta)}};
    if (!token.empty()) dj["clientToken"] = token;
    out.delta = dj.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  json docs{{"current", versionedView(doc)}, {"timestamp", now_s}};
  if (!previous.is_null()) docs["previous"] = previous;
  if (!token.empty()) docs["clientToken"] = token;
  out.documents = docs.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out.document = std::move(doc);
  return out;
}

std::variant<std::string, ShadowError> getResponse(const std::optional<json>& current,
                                                   std::string_view thing, std::string_view payload,
                                                   int64_t now_s, const ShadowLimits& limits) {
  auto tok = tokenOf(payload, limits);
  if (auto* e = std::get_if<ShadowError>(&tok)) return *e;
  std::string token = std::get<std::string>(tok);
  if (!current) return err(404, noShadow(thing), token);
  const json& doc = *current;
  json state = stateOf(doc);
  json delta = computeDelta(section(doc, "state", "desired"), section(doc, "state", "reported"));
  if (!delta.empty()) state["delta"] = delta;
  json meta = json::object();
  for (const char* name : {"desired", "reported"}) {
    const json& m = section(doc, "metadata", name);
    if (!m.empty()) meta[name] = m;
  }
  json j{{"state", state},
         {"metadata", meta},
         {"version", doc.value("version", int64_t{0})},
         {"timestamp", now_s}};
  if (!token.empty()) j["clientToken"] = token;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::variant<std::string, ShadowError> deleteResponse(const std::optional<json>& current,
                                                      std::string_view thing,
                                                      std::string_view payload, int64_t now_s,
                                                      const ShadowLimits& limits) {
  auto tok = tokenOf(payload, limits);
  if (auto* e = std::get_if<ShadowError>(&tok)) return *e;
  std::string token = std::get<std::string>(tok);
  if (!current) return err(404, noShadow(thing), token);
  json j{{"version", current->value("version", int64_t{0})}, {"timestamp", now_s}};
  if (!token.empty()) j["clientToken"] = token;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace evg::shadow
