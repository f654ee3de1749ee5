#include "tes/credentials.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>

namespace evg::tes {

using json = nlohmann::json;

Result<TemporaryCredentials> parseProviderResponse(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::invalid("credentials provider answer is not a JSON object");
  }
  auto it = j.find("credentials");
  if (it == j.end() || !it->is_object()) {
    return Status::invalid("credentials provider answer has no \"credentials\" object");
  }
  const json& c = *it;
  TemporaryCredentials out;
  struct Field {
    const char* name;
    std::string* dst;
  } fields[] = {{"accessKeyId", &out.creds.access_key_id},
                {"secretAccessKey", &out.creds.secret_access_key},
                {"sessionToken", &out.creds.session_token}};
  for (const auto& f : fields) {
    auto v = c.find(f.name);
    if (v == c.end() || !v->is_string() || v->get_ref<const std::string&>().empty()) {
      return Status::invalid(std::string("credentials provider answer: credentials.") + f.name +
                             " is missing or not a non-empty string");
    }
    *f.dst = v->get<std::string>();
  }
  auto e = c.find("expiration");
  if (e == c.end() || !e->is_string()) {
    return Status::invalid("credentials provider answer: credentials.expiration is missing");
  }
  auto ms = parseIso8601Ms(e->get<std::string>());
  if (!ms)
    return Status::invalid("credentials provider answer: credentials.expiration: " +
                           ms.status().message());
  out.expiration_ms = *ms;
  return out;
}

std::string containerCredentialsJson(const TemporaryCredentials& c) {
  return json{{"AccessKeyId", c.creds.access_key_id},
              {"SecretAccessKey", c.creds.secret_access_key},
              {"Token", c.creds.session_token},
              {"Expiration", iso8601(c.expiration_ms)}}
      .dump();
}

Result<int64_t> parseIso8601Ms(std::string_view s) {
  auto bad = [&] {
    return Status::invalid("expected an ISO-8601 UTC time, got \"" + std::string(s) + "\"");
  };
  // YYYY-MM-DDTHH:MM:SS
  if (s.size() < 19) return bad();
  auto num = [&](size_t pos, size_t len, int* out) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
  };
  std::tm tm{};
  int y, mo, d, h, mi, se;
  if (!num(0, 4, &y) || s[4] != '-' || !num(5, 2, &mo) || s[7] != '-' || !num(8, 2, &d) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !num(11, 2, &h) || s[13] != ':' ||
      !num(14, 2, &mi) || s[16] != ':' || !num(17, 2, &se)) {
    return bad();
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return bad();
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int64_t frac = 0, scale = 100;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      frac += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    ms += frac;
  }
  std::string_view zone = s.substr(pos);
  if (zone == "Z" || zone == "z" || zone.empty()) return ms;
  if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int zh, zm;
    if (!num(pos + 1, 2, &zh) || !num(pos + 4, 2, &zm)) return bad();
    int64_t off = (zh * 60 + zm) * 60000LL;
    return zone[0] == '+' ? ms - off : ms + off;
  }
  return bad();
}

std::string iso8601(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t refreshAtMs(int64_t fetched_ms, int64_t expiry_ms, int64_t margin_ms) {
  int64_t lifetime = expiry_ms - fetched_ms;
  if (lifetime <= 0) return fetched_ms;
  if (lifetime > 2 * margin_ms) return expiry_ms - margin_ms;
  return fetched_ms + lifetime / 2;
}

}  // namespace evg::tes
