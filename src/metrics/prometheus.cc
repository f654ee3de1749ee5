#include "metrics/prometheus.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace evg::metrics {

std::string Exposition::escapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Exposition::formatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Integers print without an exponent up to 2^53; everything else with enough digits.
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);  // shortest form that round-trips
  return std::string(buf, r.ptr);
}

namespace {
std::string escapeHelp(std::string_view h) {
  std::string out;
  for (char c : h) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string labelText(const Labels& labels) {
  if (labels.empty()) return {};
  std::string s = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) s += ',';
    first = false;
    s += k;
    s += "=\"";
    s += Exposition::escapeLabelValue(v);
    s += '"';
  }
  s += '}';
  return s;
}
}  // namespace

std::string Exposition::sampleLine(std::string_view name, const Labels& labels, double value) {
  std::string line(name);
  line += labelText(labels);
  line += ' ';
  line += formatValue(value);
  return line;
}

Exposition::Family& Exposition::family(std::string_view name, std::string_view type,
                                       std::string_view help) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    order_.emplace_back(name);
    it = families_.emplace(std::string(name), Family{std::string(type), std::string(help), {}})
             .first;
  }
  return it->second;
}

void Exposition::declare(std::string_view name, std::string_view type, std::string_view help) {
  family(name, type, help);
}

void Exposition::counter(std::string_view name, std::string_view help, const Labels& labels,
                         double value) {
  family(name, "counter", help).samples.push_back(sampleLine(name, labels, value));
}

void Exposition::gauge(std::string_view name, std::string_view help, const Labels& labels,
                       double value) {
  family(name, "gauge", help).samples.push_back(sampleLine(name, labels, value));
}

void Exposition::histogram(std::string_view name, std::string_view help, const Labels& labels,
                           std::span<const double> bounds, std::span<const uint64_t> counts,
                           double sum) {
  Family& f = family(name, "histogram", help);
  uint64_t cumulative = 0;
  std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    Labels l = labels;
    l.emplace_back("le", i < bounds.size() ? formatValue(bounds[i]) : "+Inf");
    f.samples.push_back(sampleLine(bucket, l, static_cast<double>(cumulative)));
  }
  f.samples.push_back(sampleLine(std::string(name) + "_sum", labels, sum));
  f.samples.push_back(
      sampleLine(std::string(name) + "_count", labels, static_cast<double>(cumulative)));
}

std::string Exposition::text() const {
  std::string out;
  for (const auto& name : order_) {
    const Family& f = families_.find(name)->second;
    out += "# HELP " + name + " " + escapeHelp(f.help) + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    for (const auto& s : f.samples) {
      out += s;
      out += '\n';
    }
  }
  return out;
}

}  // namespace evg::metrics
