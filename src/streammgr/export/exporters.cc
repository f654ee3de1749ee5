#include "streammgr/export/exporters.h"

#include <cstdio>
#include <map>

#include "base/base64.h"
#include "base/json.h"

namespace evg::streammgr::exporter {

using nlohmann::json;

std::string randomUuid(std::mt19937_64& rng) {
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
                static_cast<unsigned>(b >> 48),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

size_t maxRecordBytes(Kind k) {
  switch (k) {
    case Kind::kKinesis:
      return kKinesisMaxRecordBytes;
    case Kind::kIotAnalytics:
      return kIotAnalyticsMaxMessageBytes;
    default:
      return 0;
  }
}

std::string describeHttpFailure(const aws::HttpResponse& r) {
  std::string body = r.body.substr(0, 300);
  for (char& c : body) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return "HTTP " + std::to_string(r.status) + (body.empty() ? "" : ": " + body);
}

namespace {

aws::HttpRequest jsonPost(std::string target, const json& body) {
  aws::HttpRequest req;
  req.method = "POST";
  req.target = std::move(target);
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = body.dump();
  return req;
}

Result<json> parseBody(const aws::HttpResponse& r) {
  if (r.status < 200 || r.status > 299) return Status::retry(describeHttpFailure(r));
  if (r.body.empty()) return json::object();
  auto j = parseJson(r.body);
  if (!j) return Status::invalid("unreadable answer: " + j.status().message());
  if (!j->is_object()) return Status::invalid("unreadable answer: not a JSON object");
  return std::move(*j);
}

std::string str(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Marks the entries named in `errors` (id key `idKey`) as failed.
Result<BatchResult> byIds(const json& errors, const std::vector<std::string>& ids,
                          const char* idKey, const std::function<std::string(const json&)>& why) {
  BatchResult out;
  out.accepted.assign(ids.size(), true);
  if (errors.is_null()) return out;
  if (!errors.is_array()) return Status::invalid("unreadable answer: error entries not a list");
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < ids.size(); ++i) index.emplace(ids[i], i);
  for (const auto& e : errors) {
    if (!e.is_object()) continue;
    auto it = index.find(str(e, idKey));
    if (it == index.end()) continue;
    out.accepted[it->second] = false;
    if (out.error.empty()) out.error = "entry " + it->first + ": " + why(e);
  }
  return out;
}

}  // namespace

aws::HttpRequest kinesisPutRecords(const std::string& streamName,
                                   const std::vector<const StoredMessage*>& msgs,
                                   std::mt19937_64& rng) {
  // Built by hand: the base64 data dominates and needs no escaping.
  std::string body = "{\"StreamName\":" + json(streamName).dump() + ",\"Records\":[";
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (i) body += ',';
    body += "{\"Data\":\"";
    body += base64Encode(msgs[i]->payload);
    body += "\",\"PartitionKey\":\"";
    body += randomUuid(rng);
    body += "\"}";
  }
  body += "]}";
  aws::HttpRequest req;
  req.method = "POST";
  req.target = "/";
  req.headers.emplace_back("Content-Type", "application/x-amz-json-1.1");
  req.headers.emplace_back("X-Amz-Target", "Kinesis_20131202.PutRecords");
  req.body = std::move(body);
  return req;
}

Result<BatchResult> parseKinesisPutRecords(const aws::HttpResponse& r, size_t sent) {
  auto j = parseBody(r);
  if (!j) return j.status();
  auto recs = j->find("Records");
  if (recs == j->end() || !recs->is_array() || recs->size() != sent) {
    return Status::invalid("unreadable answer: Records does not list the " + std::to_string(sent) +
                           " records sent");
  }
  BatchResult out;
  out.accepted.reserve(sent);
  for (const auto& rec : *recs) {
    std::string code = rec.is_object() ? str(rec, "ErrorCode") : "?";
    out.accepted.push_back(code.empty());
    if (!code.empty() && out.error.empty()) out.error = code + ": " + str(rec, "ErrorMessage");
  }
  return out;
}

std::string iotAnalyticsMessageId(const std::string& prefix, int64_t sequenceNumber) {
  return prefix + std::to_string(sequenceNumber);
}

aws::HttpRequest iotAnalyticsBatchPut(const std::string& channel, const std::string& prefix,
                                      const std::vector<const StoredMessage*>& msgs) {
  json messages = json::array();
  for (const auto* m : msgs) {
    messages.push_back({{"messageId", iotAnalyticsMessageId(prefix, m->sequenceNumber)},
                        {"payload", base64Encode(m->payload)}});
  }
  return jsonPost("/messages/batch", {{"channelName", channel}, {"messages", std::move(messages)}});
}

Result<BatchResult> parseIotAnalyticsBatchPut(const aws::HttpResponse& r,
                                              const std::vector<std::string>& messageIds) {
  auto j = parseBody(r);
  if (!j) return j.status();
  json errors = j->value("batchPutMessageErrorEntries", json());
  return byIds(errors, messageIds, "messageId",
               [](const json& e) { return str(e, "errorCode") + ": " + str(e, "errorMessage"); });
}

namespace {

Status checkVariant(const json& v, const std::string& path) {
  if (!v.is_object()) return Status::invalid(path + " must be an object");
  int n = 0;
  if (auto it = v.find("stringValue"); it != v.end() && !it->is_null()) {
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      return Status::invalid(path + ".stringValue must be a non-empty string");
    }
    ++n;
  }
  if (auto it = v.find("integerValue"); it != v.end() && !it->is_null()) {
    if (!it->is_number_integer()) return Status::invalid(path + ".integerValue must be an integer");
    ++n;
  }
  if (auto it = v.find("doubleValue"); it != v.end() && !it->is_null()) {
    if (!it->is_number()) return Status::invalid(path + ".doubleValue must be a number");
    ++n;
  }
  if (auto it = v.find("booleanValue"); it != v.end() && !it->is_null()) {
    if (!it->is_boolean()) return Status::invalid(path + ".booleanValue must be a boolean");
    ++n;
  }
  if (n != 1)
    return Status::invalid(
        path + " must hold exactly one of stringValue, integerValue, doubleValue, booleanValue");
  return Status::ok();
}

}  // namespace

Result<json> sitewiseEntry(std::string_view payload) {
  auto j = parseJson(payload);
  if (!j) return Status::invalid("not a PutAssetPropertyValueEntry: " + j.status().message());
  const json& e = *j;
  if (!e.is_object()) return Status::invalid("not a PutAssetPropertyValueEntry: not a JSON object");
  json out = json::object();
  std::string entryId = str(e, "entryId");
  if (entryId.empty() || entryId.size() > 64) {
    return Status::invalid("entryId is required (1..64 characters)");
  }
  for (char c : entryId) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
      return Status::invalid("entryId \"" + entryId + "\" does not match ^[a-zA-Z0-9_-]+$");
    }
  }
  out["entryId"] = entryId;
  for (const char* k : {"assetId", "propertyId", "propertyAlias"}) {
    if (auto it = e.find(k); it != e.end() && !it->is_null()) {
      if (!it->is_string()) return Status::invalid(std::string(k) + " must be a string");
      out[k] = *it;
    }
  }
  if (!out.contains("propertyAlias") && !(out.contains("assetId") && out.contains("propertyId"))) {
    return Status::invalid("entry " + entryId +
                           " names neither propertyAlias nor assetId + propertyId");
  }
  auto pv = e.find("propertyValues");
  if (pv == e.end() || !pv->is_array() || pv->empty() || pv->size() > 10) {
    return Status::invalid("entry " + entryId + ": propertyValues must hold 1..10 values");
  }
  json values = json::array();
  for (size_t i = 0; i < pv->size(); ++i) {
    const json& v = (*pv)[i];
    std::string path = "entry " + entryId + ": propertyValues[" + std::to_string(i) + "]";
    if (!v.is_object()) return Status::invalid(path + " must be an object");
    auto val = v.find("value");
    if (val == v.end()) return Status::invalid(path + ".value is required");
    EVG_RETURN_IF_ERROR(checkVariant(*val, path + ".value"));
    auto ts = v.find("timestamp");
    if (ts == v.end() || !ts->is_object()) return Status::invalid(path + ".timestamp is required");
    auto secs = ts->find("timeInSeconds");
    if (secs == ts->end() || !secs->is_number_integer() || secs->get<int64_t>() < 1) {
      return Status::invalid(path + ".timestamp.timeInSeconds must be an integer >= 1");
    }
    json t = {{"timeInSeconds", secs->get<int64_t>()}};
    if (auto off = ts->find("offsetInNanos"); off != ts->end() && !off->is_null()) {
      if (!off->is_number_integer() || off->get<int64_t>() < 0 || off->get<int64_t>() > 999999999) {
        return Status::invalid(path + ".timestamp.offsetInNanos must be 0..999999999");
      }
      t["offsetInNanos"] = off->get<int64_t>();
    }
    json o = {{"value", *val}, {"timestamp", std::move(t)}};
    if (auto q = v.find("quality"); q != v.end() && !q->is_null()) {
      std::string qs = q->is_string() ? q->get<std::string>() : "";
      if (qs != "GOOD" && qs != "BAD" && qs != "UNCERTAIN") {
        return Status::invalid(path + ".quality must be GOOD, BAD or UNCERTAIN");
      }
      o["quality"] = qs;
    }
    values.push_back(std::move(o));
  }
  out["propertyValues"] = std::move(values);
  return out;
}

aws::HttpRequest sitewiseBatchPut(const std::vector<json>& entries) {
  return jsonPost("/properties", {{"entries", entries}});
}

Result<BatchResult> parseSitewiseBatchPut(const aws::HttpResponse& r,
                                          const std::vector<std::string>& entryIds) {
  auto j = parseBody(r);
  if (!j) return j.status();
  json errors = j->value("errorEntries", json());
  return byIds(errors, entryIds, "entryId", [](const json& e) {
    auto errs = e.find("errors");
    if (errs != e.end() && errs->is_array() && !errs->empty() && (*errs)[0].is_object()) {
      return str((*errs)[0], "errorCode") + ": " + str((*errs)[0], "errorMessage");
    }
    return std::string("error");
  });
}

Result<HttpTarget> parseHttpUri(const std::string& uri) {
  size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return Status::invalid("uri \"" + uri + "\" has no scheme");
  size_t slash = uri.find('/', scheme + 3);
  HttpTarget t;
  auto ep = aws::Endpoint::parse(slash == std::string::npos ? uri : uri.substr(0, slash));
  if (!ep) return ep.status().withContext("uri: ");
  t.endpoint = std::move(*ep);
  t.target = slash == std::string::npos ? "/" : uri.substr(slash);
  return t;
}

aws::HttpRequest httpExport(const HttpTarget& t, HttpFormat format,
                            const std::vector<const StoredMessage*>& msgs) {
  aws::HttpRequest req;
  req.method = "POST";
  req.target = t.target;
  if (format == HttpFormat::kRawNotBatched && !msgs.empty()) {
    req.headers.emplace_back("Content-Type", "application/octet-stream");
    req.headers.emplace_back("X-Stream-Name", msgs[0]->stream);
    req.headers.emplace_back("X-Sequence-Number", std::to_string(msgs[0]->sequenceNumber));
    req.body = msgs[0]->payload;
    return req;
  }
  json arr = json::array();
  for (const auto* m : msgs) {
    arr.push_back({{"streamName", m->stream},
                   {"sequenceNumber", m->sequenceNumber},
                   {"ingestTime", m->ingestTimeMs},
                   {"payload", base64Encode(m->payload)}});
  }
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = arr.dump();
  return req;
}

}  // namespace evg::streammgr::exporter
