#include "streammgr/export/export_config.h"

#include <set>

namespace evg::streammgr::exporter {

using nlohmann::json;

std::string_view kindName(Kind k) {
  switch (k) {
    case Kind::kKinesis:
      return "kinesis";
    case Kind::kIotAnalytics:
      return "iotAnalytics";
    case Kind::kIotSitewise:
      return "IotSitewise";
    case Kind::kS3Task:
      return "s3TaskExecutor";
    case Kind::kHttp:
      return "http";
  }
  return "?";
}

namespace {

bool identifierChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ' ' || c == ',' || c == '.' || c == '-';
}

class Fields {
 public:
  Fields(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  Status str(const char* key, bool required, size_t minLen, size_t maxLen, std::string* out) {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) {
      return required ? Status::invalid(where(key) + "is required") : Status::ok();
    }
    if (!it->is_string()) return Status::invalid(where(key) + "must be a string");
    const auto& s = it->get_ref<const std::string&>();
    if (s.size() < minLen) {
      return Status::invalid(where(key) + "must have at least " + std::to_string(minLen) +
                             " character(s)");
    }
    if (s.size() > maxLen) {
      return Status::invalid(where(key) + "is longer than " + std::to_string(maxLen) +
                             " characters");
    }
    *out = s;
    return Status::ok();
  }

  Status identifier(const char* key, std::string* out) {
    EVG_RETURN_IF_ERROR(str(key, true, 1, 255, out));
    for (char c : *out) {
      if (!identifierChar(c)) {
        return Status::invalid(where(key) + "\"" + *out + "\" does not match ^[\\w ,.\\-_]*$");
      }
    }
    return Status::ok();
  }

  Status integer(const char* key, int64_t lo, int64_t hi, std::optional<int64_t>* out) {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return Status::ok();
    if (!it->is_number_integer()) return Status::invalid(where(key) + "must be an integer");
    if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return Status::invalid(where(key) + "is above the maximum " + std::to_string(hi));
    }
    int64_t v = it->get<int64_t>();
    if (v < lo) {
      return Status::invalid(where(key) + std::to_string(v) + " is below the minimum " +
                             std::to_string(lo));
    }
    if (v > hi) {
      return Status::invalid(where(key) + std::to_string(v) + " is above the maximum " +
                             std::to_string(hi));
    }
    *out = v;
    return Status::ok();
  }

  Status boolean(const char* key, bool* out) {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return Status::ok();
    if (!it->is_boolean()) return Status::invalid(where(key) + "must be a boolean");
    *out = it->get<bool>();
    return Status::ok();
  }

  const json* object(const char* key) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  std::string where(const char* key) const { return path_ + "." + key + ": "; }
  const std::string& path() const { return path_; }

 private:
  const json& obj_;
  std::string path_;
};

size_t maxBatch(Kind k) {
  switch (k) {
    case Kind::kKinesis:
    case Kind::kHttp:
      return 500;
    case Kind::kIotAnalytics:
      return 100;
    case Kind::kIotSitewise:
      return 10;
    case Kind::kS3Task:
      return 1;
  }
  return 1;
}

Result<ExporterConfig> parseOne(Kind kind, const json& o, const std::string& path) {
  if (!o.is_object()) return Status::invalid(path + ": must be an object");
  Fields f(o, path);
  ExporterConfig c;
  c.kind = kind;
  EVG_RETURN_IF_ERROR(f.identifier("identifier", &c.identifier));
  std::optional<int64_t> v;
  EVG_RETURN_IF_ERROR(f.integer("priority", 1, 10, &v));
  if (v) c.priority = static_cast<int>(*v);
  EVG_RETURN_IF_ERROR(f.boolean("disabled", &c.disabled));
  c.batchSize = maxBatch(kind);
  if (kind != Kind::kS3Task) {
    v.reset();
    EVG_RETURN_IF_ERROR(f.integer("batchSize", 1, static_cast<int64_t>(maxBatch(kind)), &v));
    if (v) c.batchSize = static_cast<size_t>(*v);
    v.reset();
    EVG_RETURN_IF_ERROR(
        f.integer("batchIntervalMillis", kMinBatchIntervalMs, kMaxBatchIntervalMs, &v));
    if (v) c.batchIntervalMs = *v;
    EVG_RETURN_IF_ERROR(f.integer("startSequenceNumber", 0, INT64_MAX, &c.startSequenceNumber));
  }
  switch (kind) {
    case Kind::kKinesis:
      EVG_RETURN_IF_ERROR(f.str("kinesisStreamName", true, 1, 128, &c.kinesisStreamName));
      break;
    case Kind::kIotAnalytics:
      EVG_RETURN_IF_ERROR(f.str("iotChannel", true, 1, 128, &c.iotChannel));
      EVG_RETURN_IF_ERROR(f.str("iotMsgIdPrefix", false, 0, kMaxIotMsgIdPrefix, &c.iotMsgIdPrefix));
      break;
    case Kind::kIotSitewise:
      break;
    case Kind::kHttp: {
      EVG_RETURN_IF_ERROR(f.str("uri", true, 1, 2048, &c.uri));
      if (c.uri.rfind("http://", 0) != 0 && c.uri.rfind("https://", 0) != 0) {
        return Status::invalid(f.where("uri") + "\"" + c.uri + "\" is not an http(s) URL");
      }
      std::optional<int64_t> fmt;
      EVG_RETURN_IF_ERROR(f.integer("exportFormat", 0, 1, &fmt));
      if (fmt) c.httpFormat = static_cast<HttpFormat>(*fmt);
      break;
    }
    case Kind::kS3Task: {
      std::optional<int64_t> t;
      EVG_RETURN_IF_ERROR(
          f.integer("sizeThresholdForMultipartUploadBytes", kMinMultipartThreshold, INT64_MAX, &t));
      if (t) c.multipartThresholdBytes = *t;
      if (const json* sc = f.object("statusConfig")) {
        if (!sc->is_object()) return Status::invalid(f.where("statusConfig") + "must be an object");
        Fields sf(*sc, path + ".statusConfig");
        std::optional<int64_t> lvl;
        EVG_RETURN_IF_ERROR(sf.integer("statusLevel", 0, 4, &lvl));
        std::string name;
        EVG_RETURN_IF_ERROR(sf.str("statusStreamName", false, 1, 255, &name));
        for (char ch : name) {
          if (!identifierChar(ch)) {
            return Status::invalid(sf.where("statusStreamName") + "\"" + name +
                                   "\" is not a valid stream name");
          }
        }
        if (!name.empty()) {
          c.statusStreamName = name;
          c.statusLevel = static_cast<StatusLevel>(lvl.value_or(2));
        }
      }
      break;
    }
  }
  return c;
}

}  // namespace

Result<std::vector<ExporterConfig>> parseExportDefinition(const json& def) {
  std::vector<ExporterConfig> out;
  if (def.is_null()) return out;
  if (!def.is_object()) return Status::invalid("exportDefinition: must be an object");
  static const std::pair<const char*, Kind> kKeys[] = {{"kinesis", Kind::kKinesis},
                                                       {"iotAnalytics", Kind::kIotAnalytics},
                                                       {"IotSitewise", Kind::kIotSitewise},
                                                       {"s3TaskExecutor", Kind::kS3Task},
                                                       {"http", Kind::kHttp}};
  for (auto it = def.begin(); it != def.end(); ++it) {
    bool known = false;
    for (const auto& [k, kind] : kKeys) known = known || it.key() == k;
    if (!known) {
      return Status::invalid("exportDefinition: unknown export type \"" + it.key() +
                             "\" (kinesis, iotAnalytics, IotSitewise, s3TaskExecutor, http)");
    }
  }
  std::set<std::string> ids;
  for (const auto& [key, kind] : kKeys) {
    auto it = def.find(key);
    if (it == def.end() || it->is_null()) continue;
    std::string path = std::string("exportDefinition.") + key;
    if (!it->is_array()) return Status::invalid(path + ": must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      auto c = parseOne(kind, (*it)[i], path + "[" + std::to_string(i) + "]");
      if (!c) return c.status();
      if (!ids.insert(c->identifier).second) {
        return Status::invalid(path + "[" + std::to_string(i) + "].identifier: \"" + c->identifier +
                               "\" is used by another exporter of this stream");
      }
      out.push_back(std::move(*c));
    }
  }
  return out;
}

}  // namespace evg::streammgr::exporter
