#pragma once
// Pure helpers of the MQTT load generator (bench/mqtt_load.cc), split out so they can be unit
// tested without a broker: payload timestamp codec, percentiles, /proc parsing, option parsing.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace evg::bench {

// Payload layout (little-endian, rest zero-filled up to the payload size):
//   [0..8)  CLOCK_MONOTONIC send time in ns
//   [8..16) sequence number (per publisher)
inline constexpr size_t kPayloadHeaderBytes = 16;

// Writes the header into `buf` (size >= kPayloadHeaderBytes) and zero-fills the rest.
Status encodePayload(uint8_t* buf, size_t size, uint64_t send_ns, uint64_t seq);
// Reads the header back; kInvalid if the payload is too short to hold it.
Status decodePayload(const uint8_t* buf, size_t size, uint64_t* send_ns, uint64_t* seq);

// CLOCK_MONOTONIC in ns.
uint64_t monotonicNs();

// Nearest-rank percentile (p in [0,100]) of `samples`; sorts in place. 0 if empty.
uint64_t percentile(std::vector<uint64_t>& samples, double p);

// utime + stime in clock ticks from the text of /proc/<pid>/stat. The comm field may contain
// spaces and parentheses, so fields are counted after the LAST ')'.
Result<uint64_t> parseProcStatCpuTicks(std::string_view stat_text);
// VmRSS in kB from the text of /proc/<pid>/status.
Result<uint64_t> parseVmRssKb(std::string_view status_text);

// Reads /proc/<pid>/stat and returns utime+stime in microseconds.
Result<uint64_t> processCpuMicros(int pid);
// Reads /proc/<pid>/status and returns VmRSS in kB.
Result<uint64_t> processRssKb(int pid);

// One load scenario.
struct Scenario {
  std::string name;     // e.g. "qos0_1to1"
  int qos = 0;          // 0 or 1, used for publish and subscribe
  int publishers = 1;   // each publisher has its own topic
  int subscribers = 1;  // subscribers are spread round-robin over the publisher topics
  double rate = 0;      // total msg/s across publishers; 0 = as fast as the window allows
};

// Known scenario names:
//   qos{0,1}_1to1, qos{0,1}_10to10, qos{0,1}_1to50, qos{0,1}_rate10k (1->1 at 10k msg/s).
Result<Scenario> scenarioByName(std::string_view name);
// "all" or a comma-separated list of names.
Result<std::vector<Scenario>> parseScenarioList(std::string_view list);

struct LoadOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  int broker_pid = 0;              // 0 = do not measure broker CPU
  uint64_t max_messages = 200000;  // per scenario, counted as DELIVERED messages
  double max_seconds = 10.0;       // per scenario publish phase
  double drain_seconds = 2.0;      // wait for in-flight messages after publishing stops
  size_t payload_bytes = 64;       // >= kPayloadHeaderBytes
  uint32_t window = 100;           // max un-delivered messages per publisher (flow control)
  int inflight = 100;              // libmosquitto max in-flight QoS1 messages per client
  int keepalive_s = 60;
  std::string label;  // broker label printed in every result row
  std::vector<Scenario> scenarios;
  bool header = true;  // print the TSV header line
  // Subscribers connect with cleanSession=0 (their sessions and queued messages are what a
  // broker with persistence writes to disk); publishers stay clean.
  bool persistent_subscribers = false;
};

// Parses argv (without argv[0]). kInvalid with a message naming the bad flag.
Result<LoadOptions> parseLoadOptions(const std::vector<std::string>& args);
std::string loadUsage();

}  // namespace evg::bench
