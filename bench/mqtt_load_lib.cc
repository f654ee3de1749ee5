#include "mqtt_load_lib.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace evg::bench {
namespace {

void putLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t getLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::io("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

template <typename T>
bool parseNumber(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool parseDouble(std::string_view s, double* out) {
  if (s.empty()) return false;
  std::string copy(s);
  char* end = nullptr;
  *out = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size() && std::isfinite(*out);
}

}  // namespace

Status encodePayload(uint8_t* buf, size_t size, uint64_t send_ns, uint64_t seq) {
  if (size < kPayloadHeaderBytes) {
    return Status::invalid("payload of " + std::to_string(size) + " bytes is shorter than the " +
                           std::to_string(kPayloadHeaderBytes) + "-byte timestamp header");
  }
  std::memset(buf, 0, size);
  putLe64(buf, send_ns);
  putLe64(buf + 8, seq);
  return Status::ok();
}

Status decodePayload(const uint8_t* buf, size_t size, uint64_t* send_ns, uint64_t* seq) {
  if (buf == nullptr || size < kPayloadHeaderBytes) {
    return Status::invalid("received payload of " + std::to_string(size) +
                           " bytes has no timestamp header");
  }
  *send_ns = getLe64(buf);
  *seq = getLe64(buf + 8);
  return Status::ok();
}

uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

uint64_t percentile(std::vector<uint64_t>& samples, double p) {
  if (samples.empty()) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // Nearest rank: the smallest value with at least p% of samples <= it.
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
  if (rank == 0) rank = 1;
  auto nth = samples.begin() + static_cast<std::ptrdiff_t>(rank - 1);
  std::nth_element(samples.begin(), nth, samples.end());
  return *nth;
}

Result<uint64_t> parseProcStatCpuTicks(std::string_view stat_text) {
  size_t close = stat_text.rfind(')');
  if (close == std::string_view::npos) return Status::invalid("/proc stat: no ')' after comm");
  std::string_view rest = stat_text.substr(close + 1);
  // Fields after comm start at field 3 (state); utime is field 14, stime field 15.
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < rest.size() && fields.size() < 13) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
    if (j > i) fields.push_back(rest.substr(i, j - i));
    i = j + 1;
  }
  if (fields.size() < 13) return Status::invalid("/proc stat: fewer than 15 fields");
  uint64_t utime = 0, stime = 0;
  if (!parseNumber(fields[11], &utime) || !parseNumber(fields[12], &stime)) {
    return Status::invalid("/proc stat: utime/stime are not numbers");
  }
  return utime + stime;
}

Result<uint64_t> parseVmRssKb(std::string_view status_text) {
  size_t pos = status_text.find("VmRSS:");
  if (pos == std::string_view::npos) return Status::notFound("/proc status: no VmRSS line");
  std::string_view rest = status_text.substr(pos + 6);
  size_t b = rest.find_first_not_of(" \t");
  if (b == std::string_view::npos) return Status::invalid("/proc status: empty VmRSS");
  size_t e = rest.find_first_not_of("0123456789", b);
  uint64_t kb = 0;
  if (!parseNumber(rest.substr(b, e - b), &kb)) return Status::invalid("/proc status: bad VmRSS");
  return kb;
}

Result<uint64_t> processCpuMicros(int pid) {
  auto text = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return text.status();
  auto ticks = parseProcStatCpuTicks(*text);
  if (!ticks) return ticks.status();
  long hz = sysconf(_SC_CLK_TCK);
  if (hz <= 0) hz = 100;
  return *ticks * 1000000ull / static_cast<uint64_t>(hz);
}

Result<uint64_t> processRssKb(int pid) {
  auto text = readFile("/proc/" + std::to_string(pid) + "/status");
  if (!text) return text.status();
  return parseVmRssKb(*text);
}

Result<Scenario> scenarioByName(std::string_view name) {
  Scenario s;
  s.name = std::string(name);
  std::string_view rest;
  if (name.starts_with("qos0_")) {
    s.qos = 0;
  } else if (name.starts_with("qos1_")) {
    s.qos = 1;
  } else {
    return Status::invalid("unknown scenario '" + std::string(name) +
                           "': must start with qos0_ or qos1_");
  }
  rest = name.substr(5);
  if (rest == "1to1") {
    s.publishers = 1, s.subscribers = 1;
  } else if (rest == "10to10") {
    s.publishers = 10, s.subscribers = 10;
  } else if (rest == "1to50") {
    s.publishers = 1, s.subscribers = 50;
  } else if (rest == "rate10k") {
    s.publishers = 1, s.subscribers = 1, s.rate = 10000;
  } else {
    return Status::invalid("unknown scenario '" + std::string(name) +
                           "': shape must be 1to1, 10to10, 1to50 or rate10k");
  }
  return s;
}

Result<std::vector<Scenario>> parseScenarioList(std::string_view list) {
  if (list == "all") {
    list =
        "qos0_1to1,qos1_1to1,qos0_10to10,qos1_10to10,qos0_1to50,qos1_1to50,qos0_rate10k,"
        "qos1_rate10k";
  }
  std::vector<Scenario> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view item = list.substr(start, comma - start);
    if (!item.empty()) {
      auto s = scenarioByName(item);
      if (!s) return s.status();
      out.push_back(std::move(*s));
    }
    start = comma + 1;
  }
  if (out.empty()) return Status::invalid("--scenarios: empty list");
  return out;
}

std::string loadUsage() {
  return "usage: mqtt_load [--host H] [--port P] [--broker-pid PID] [--label NAME]\n"
         "                 [--scenarios all|name,name...] [--max-messages N] [--max-seconds S]\n"
         "                 [--drain-seconds S] [--payload BYTES] [--window N] [--inflight N]\n"
         "                 [--no-header] [--persistent-subscribers]\n"
         "scenarios: qos{0,1}_1to1 qos{0,1}_10to10 qos{0,1}_1to50 qos{0,1}_rate10k\n";
}

Result<LoadOptions> parseLoadOptions(const std::vector<std::string>& args) {
  LoadOptions o;
  std::string scenarios = "all";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--no-header") {
      o.header = false;
      continue;
    }
    if (flag == "--persistent-subscribers") {
      o.persistent_subscribers = true;
      continue;
    }
    if (i + 1 >= args.size()) return Status::invalid("flag " + flag + " needs a value");
    const std::string& v = args[++i];
    auto bad = [&]() { return Status::invalid("flag " + flag + ": bad value '" + v + "'"); };
    if (flag == "--host") {
      o.host = v;
    } else if (flag == "--port") {
      if (!parseNumber(v, &o.port) || o.port <= 0 || o.port > 65535) return bad();
    } else if (flag == "--broker-pid") {
      if (!parseNumber(v, &o.broker_pid) || o.broker_pid < 0) return bad();
    } else if (flag == "--label") {
      o.label = v;
    } else if (flag == "--scenarios") {
      scenarios = v;
    } else if (flag == "--max-messages") {
      if (!parseNumber(v, &o.max_messages) || o.max_messages == 0) return bad();
    } else if (flag == "--max-seconds") {
      if (!parseDouble(v, &o.max_seconds) || o.max_seconds <= 0) return bad();
    } else if (flag == "--drain-seconds") {
      if (!parseDouble(v, &o.drain_seconds) || o.drain_seconds < 0) return bad();
    } else if (flag == "--payload") {
      if (!parseNumber(v, &o.payload_bytes) || o.payload_bytes < kPayloadHeaderBytes ||
          o.payload_bytes > 256 * 1024 * 1024) {
        return Status::invalid("flag --payload: must be " + std::to_string(kPayloadHeaderBytes) +
                               "..268435456 bytes, got '" + v + "'");
      }
    } else if (flag == "--window") {
      if (!parseNumber(v, &o.window) || o.window == 0) return bad();
    } else if (flag == "--inflight") {
      if (!parseNumber(v, &o.inflight) || o.inflight <= 0 || o.inflight > 65535) return bad();
    } else {
      return Status::invalid("unknown flag " + flag);
    }
  }
  auto list = parseScenarioList(scenarios);
  if (!list) return list.status();
  o.scenarios = std::move(*list);
  if (o.label.empty()) o.label = o.host + ":" + std::to_string(o.port);
  return o;
}

}  // namespace evg::bench
