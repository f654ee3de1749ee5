#include "jobs/job_document.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>

namespace evg::jobs {

using nlohmann::json;

const std::vector<std::string>& remoteConfigKeys() {
  static const std::vector<std::string> keys = {"log.level"};
  return keys;
}

namespace {

constexpr std::string_view kPlaceholder = "${aws:iot:s3-presigned-url:";

bool isHex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

bool validFunctionName(const std::string& n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

Status checkKeys(const json& obj, const std::string& where,
                 std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : obj.items()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return Status::invalid(where + (where.empty() ? "" : ".") + k + ": unknown key");
    }
  }
  return Status::ok();
}

Result<Artifact> parseArtifact(const json& a, const std::string& where) {
  if (!a.is_object()) return Status::invalid(where + ": must be an object {url, sha256, size?}");
  EVG_RETURN_IF_ERROR(checkKeys(a, where, {"url", "sha256", "size"}));
  Artifact out;
  auto url = a.find("url");
  if (url == a.end() || !url->is_string() || url->get<std::string>().empty()) {
    return Status::invalid(where + ".url: required, a string");
  }
  out.url = url->get<std::string>();
  if (out.url.find(kPlaceholder) != std::string::npos) {
    return Status::invalid(where +
                           ".url: the presigned-URL placeholder was not replaced (create the job "
                           "with --presigned-url-config)");
  }
  if (out.url.rfind("https://", 0) != 0) {
    return Status::invalid(where + ".url: must be an https:// URL");
  }
  auto sha = a.find("sha256");
  if (sha == a.end() || !sha->is_string() || !isHex64(sha->get<std::string>())) {
    return Status::invalid(where + ".sha256: required, 64 hex digits");
  }
  out.sha256 = sha->get<std::string>();
  std::transform(out.sha256.begin(), out.sha256.end(), out.sha256.begin(),
                 [](char c) { return static_cast<char>(std::tolower(c)); });
  if (auto s = a.find("size"); s != a.end()) {
    if (!s->is_number_integer() || s->get<int64_t>() < 0)
      return Status::invalid(where + ".size: a non-negative integer");
    out.size = s->get<uint64_t>();
  }
  return out;
}

std::string stripQuery(const std::string& url) {
  if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) return url;
  size_t q = url.find('?');
  return q == std::string::npos ? url : url.substr(0, q);
}

void stripUrls(json& j) {
  if (j.is_object()) {
    for (auto& [k, v] : j.items()) {
      if (k == "url" && v.is_string()) {
        v = stripQuery(v.get<std::string>());
      } else {
        stripUrls(v);
      }
    }
  } else if (j.is_array()) {
    for (auto& v : j) stripUrls(v);
  }
}

}  // namespace

Result<JobDocument> parseJobDocument(const json& doc) {
  if (!doc.is_object()) return Status::invalid("job document: must be a JSON object");
  std::string text = doc.dump();
  if (text.size() > kMaxDocumentBytes) {
    return Status::tooLarge("job document: " + std::to_string(text.size()) +
                            " bytes, over the limit of " + std::to_string(kMaxDocumentBytes));
  }
  auto schema = doc.find("schema");
  if (schema == doc.end() || !schema->is_string()) {
    return Status::invalid("schema: required, \"" + std::string(kSchemaV1) + "\"");
  }
  if (schema->get<std::string>() != kSchemaV1) {
    return Status::unsupported("schema: \"" + schema->get<std::string>() +
                               "\" is not supported by this core (supported: \"" + kSchemaV1 +
                               "\")");
  }
  EVG_RETURN_IF_ERROR(checkKeys(doc, "",
                                {"schema", "deploymentId", "group", "groupArtifact", "functions",
                                 "config", "failurePolicy", "healthWindowSeconds"}));
  JobDocument out;
  if (auto d = doc.find("deploymentId"); d != doc.end()) {
    if (!d->is_string() || d->get<std::string>().size() > 128) {
      return Status::invalid("deploymentId: a string of at most 128 characters");
    }
    out.deployment_id = d->get<std::string>();
  }
  auto g = doc.find("group");
  auto ga = doc.find("groupArtifact");
  if ((g == doc.end()) == (ga == doc.end())) {
    return Status::invalid("group: exactly one of \"group\" and \"groupArtifact\" is required");
  }
  if (g != doc.end()) {
    if (!g->is_object()) return Status::invalid("group: must be an object (the group definition)");
    out.group = *g;
  } else {
    auto a = parseArtifact(*ga, "groupArtifact");
    if (!a) return a.status();
    out.group_artifact = std::move(a).value();
  }
  if (auto fs = doc.find("functions"); fs != doc.end()) {
    if (!fs->is_array()) return Status::invalid("functions: must be an array");
    for (size_t i = 0; i < fs->size(); ++i) {
      const json& f = (*fs)[i];
      std::string w = "functions[" + std::to_string(i) + "]";
      if (!f.is_object()) return Status::invalid(w + ": must be an object");
      EVG_RETURN_IF_ERROR(checkKeys(f, w, {"name", "version", "runtime", "handler", "artifact"}));
      FunctionArtifact fa;
      auto n = f.find("name");
      if (n == f.end() || !n->is_string() || !validFunctionName(n->get<std::string>())) {
        return Status::invalid(w + ".name: required, 1-64 of A-Za-z0-9_-");
      }
      fa.name = n->get<std::string>();
      auto v = f.find("version");
      if (v == f.end() || !v->is_number_integer() || v->get<int64_t>() <= 0 ||
          v->get<int64_t>() > 999999999) {
        return Status::invalid(w + ".version: required, an integer 1..999999999");
      }
      fa.version = static_cast<uint64_t>(v->get<int64_t>());
      for (auto [key, dst] : {std::pair{"runtime", &fa.runtime}, {"handler", &fa.handler}}) {
        auto it = f.find(key);
        if (it == f.end() || !it->is_string() || it->get<std::string>().empty()) {
          return Status::invalid(w + "." + key + ": required, a non-empty string");
        }
        *dst = it->get<std::string>();
      }
      auto a = f.find("artifact");
      if (a == f.end()) return Status::invalid(w + ".artifact: required");
      auto art = parseArtifact(*a, w + ".artifact");
      if (!art) return art.status();
      fa.artifact = std::move(art).value();
      for (const auto& other : out.functions) {
        if (other.name == fa.name && other.version == fa.version) {
          return Status::invalid(w + ": " + fa.name + " version " + std::to_string(fa.version) +
                                 " is listed twice");
        }
      }
      out.functions.push_back(std::move(fa));
    }
  }
  if (auto c = doc.find("config"); c != doc.end()) {
    if (!c->is_object()) return Status::invalid("config: must be an object");
    const auto& allowed = remoteConfigKeys();
    for (const auto& [k, v] : c->items()) {
      if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
        return Status::invalid("config." + k + ": not a key Evergreen accepts remotely (allowed: " +
                               [&] {
                                 std::string s;
                                 for (const auto& a : allowed) s += (s.empty() ? "" : ", ") + a;
                                 return s;
                               }() +
                               ")");
      }
      if (!v.is_string()) return Status::invalid("config." + k + ": must be a string");
      std::string val = v.get<std::string>();
      if (k == "log.level") {
        static const std::vector<std::string> levels = {"DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
        if (std::find(levels.begin(), levels.end(), val) == levels.end()) {
          return Status::invalid("config.log.level: one of DEBUG, INFO, WARN, ERROR, FATAL");
        }
      }
      out.config[k] = val;
    }
  }
  if (auto p = doc.find("failurePolicy"); p != doc.end()) {
    if (!p->is_string() || (*p != "rollback" && *p != "leave")) {
      return Status::invalid("failurePolicy: \"rollback\" or \"leave\"");
    }
    out.rollback_on_failure = *p == "rollback";
  }
  if (auto h = doc.find("healthWindowSeconds"); h != doc.end()) {
    if (!h->is_number_integer() || h->get<int64_t>() < 0 ||
        h->get<int64_t>() > kMaxHealthWindowSeconds) {
      return Status::invalid("healthWindowSeconds: an integer 0.." +
                             std::to_string(kMaxHealthWindowSeconds));
    }
    out.health_window_s = static_cast<int>(h->get<int64_t>());
  }
  return out;
}

std::string canonicalWithoutPresign(const json& doc) {
  json c = doc;
  stripUrls(c);
  return c.dump();  // nlohmann's object keys are sorted: canonical
}

std::string documentDigest(const json& doc) {
  std::string s = canonicalWithoutPresign(doc);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  std::string hex;
  char buf[3];
  for (unsigned char b : md) {
    std::snprintf(buf, sizeof buf, "%02x", b);
    hex += buf;
  }
  return hex;
}

}  // namespace evg::jobs
