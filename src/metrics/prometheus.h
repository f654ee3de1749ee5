#pragma once
// Prometheus text exposition format 0.0.4 (sans-I/O): families with one HELP/TYPE header each,
// samples in the order they were added, label values escaped, histograms with cumulative
// `_bucket{le=...}`, `_sum` and `_count`. The caller names metrics by Prometheus conventions
// (`evergreen_` prefix, `_total` on counters, base units: seconds, bytes).
//
//   Exposition e;
//   e.counter("evergreen_mqtt_messages_received_total", "PUBLISH packets from clients", {}, 12);
//   e.gauge("evergreen_function_workers", "Worker processes", {{"function", arn}}, 2);
//   std::string body = e.text();   // Content-Type: kContentType

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evg::metrics {

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

using Labels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
 public:
  void counter(std::string_view name, std::string_view help, const Labels& labels, double value);
  void gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  // `bounds` ascending upper bounds; `counts` per bucket (not cumulative), one more than bounds
  // (the last is the +Inf bucket).
  void histogram(std::string_view name, std::string_view help, const Labels& labels,
                 std::span<const double> bounds, std::span<const uint64_t> counts, double sum);
  // Declares a family without samples (its HELP/TYPE still appear, so scrapers see it).
  void declare(std::string_view name, std::string_view type, std::string_view help);

  std::string text() const;

  // Exposed for tests: a label value as it appears between the quotes.
  static std::string escapeLabelValue(std::string_view v);
  static std::string formatValue(double v);

 private:
  struct Family {
    std::string type;
    std::string help;
    std::vector<std::string> samples;  // complete lines without '\n'
  };
  Family& family(std::string_view name, std::string_view type, std::string_view help);
  static std::string sampleLine(std::string_view name, const Labels& labels, double value);

  std::vector<std::string> order_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace evg::metrics
