#include "mqtt/topic.h"

#include <cstdint>

namespace evg::mqtt {

bool isValidMqttUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp;
    size_t len;
    if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      len = 4;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong encodings, surrogates, out of range.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) {
      return false;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;
    if (cp > 0x10FFFF) return false;
    i += len;
  }
  return true;
}

Status validateTopicName(std::string_view topic) {
  if (topic.empty()) return Status::invalid("topic name is empty");
  if (topic.size() > 65535) return Status::invalid("topic name longer than 65535 bytes");
  if (!isValidMqttUtf8(topic)) return Status::invalid("topic name is not valid UTF-8");
  for (char c : topic) {
    if (c == '+' || c == '#') return Status::invalid("topic name contains a wildcard");
  }
  return Status::ok();
}

Status validateTopicFilter(std::string_view filter) {
  if (filter.empty()) return Status::invalid("topic filter is empty");
  if (filter.size() > 65535) return Status::invalid("topic filter longer than 65535 bytes");
  if (!isValidMqttUtf8(filter)) return Status::invalid("topic filter is not valid UTF-8");
  size_t level_start = 0;
  for (size_t i = 0; i <= filter.size(); ++i) {
    if (i == filter.size() || filter[i] == '/') {
      std::string_view level = filter.substr(level_start, i - level_start);
      bool has_plus = level.find('+') != std::string_view::npos;
      bool has_hash = level.find('#') != std::string_view::npos;
      if (has_plus && level.size() != 1) {
        return Status::invalid("'+' must occupy a whole topic level");
      }
      if (has_hash) {
        if (level.size() != 1) return Status::invalid("'#' must occupy a whole topic level");
        if (i != filter.size()) return Status::invalid("'#' must be the last topic level");
      }
      level_start = i + 1;
    }
  }
  return Status::ok();
}

bool topicMatches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic[0] == '$' && !filter.empty() &&
      (filter[0] == '+' || filter[0] == '#')) {
    return false;
  }
  size_t fi = 0, ti = 0;
  const size_t fn = filter.size(), tn = topic.size();
  while (true) {
    // Extract current levels.
    size_t fe = filter.find('/', fi);
    if (fe == std::string_view::npos) fe = fn;
    std::string_view flevel = filter.substr(fi, fe - fi);
    if (flevel == "#") return true;  // matches this level and everything below (incl. parent)
    if (ti > tn) {
      return false;
    }
    size_t te = topic.find('/', ti);
    if (te == std::string_view::npos) te = tn;
    std::string_view tlevel = topic.substr(ti, te - ti);
    if (flevel != "+" && flevel != tlevel) return false;
    bool f_last = fe == fn;
    bool t_last = te == tn;
    if (f_last && t_last) return true;
    if (t_last) {
      // Topic ended; filter may continue only with "/#".
      std::string_view rest = filter.substr(fe);
      return rest == "/#";
    }
    if (f_last) return false;
    fi = fe + 1;
    ti = te + 1;
  }
}

int countLevels(std::string_view s) {
  int n = 0;
  for (char c : s) n += c == '/';
  return n;
}

std::vector<std::string_view> splitTopicLevels(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

}  // namespace evg::mqtt
