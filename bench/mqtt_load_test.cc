#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

#include "mqtt_load_lib.h"

namespace evg::bench {
namespace {

TEST(MqttLoadPayload, RoundTripsTimestampAndSequence) {
  std::vector<uint8_t> buf(64, 0xAB);
  ASSERT_TRUE(encodePayload(buf.data(), buf.size(), 0x0102030405060708ull, 42).isOk());
  uint64_t ts = 0, seq = 0;
  ASSERT_TRUE(decodePayload(buf.data(), buf.size(), &ts, &seq).isOk());
  EXPECT_EQ(ts, 0x0102030405060708ull);
  EXPECT_EQ(seq, 42u);
  EXPECT_EQ(buf[0], 0x08);  // little-endian on the wire, independent of host order
  EXPECT_EQ(buf[63], 0);    // padding is zero-filled
}

TEST(MqttLoadPayload, RejectsShortBuffers) {
  std::vector<uint8_t> buf(kPayloadHeaderBytes - 1);
  Status s = encodePayload(buf.data(), buf.size(), 1, 1);
  EXPECT_EQ(s.code(), Code::kInvalid);
  uint64_t ts = 0, seq = 0;
  EXPECT_EQ(decodePayload(buf.data(), buf.size(), &ts, &seq).code(), Code::kInvalid);
  EXPECT_EQ(decodePayload(nullptr, 0, &ts, &seq).code(), Code::kInvalid);
}

TEST(MqttLoadPercentile, NearestRank) {
  std::vector<uint64_t> v;
  for (uint64_t i = 100; i >= 1; --i) v.push_back(i);  // 1..100 reversed
  EXPECT_EQ(percentile(v, 50), 50u);
  EXPECT_EQ(percentile(v, 99), 99u);
  EXPECT_EQ(percentile(v, 100), 100u);
  EXPECT_EQ(percentile(v, 0), 1u);
  std::vector<uint64_t> one{7};
  EXPECT_EQ(percentile(one, 99), 7u);
  std::vector<uint64_t> empty;
  EXPECT_EQ(percentile(empty, 50), 0u);
}

TEST(MqttLoadProc, ParsesStatWithSpacesAndParensInComm) {
  // Fields: pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  //         utime stime ...
  const char* stat = "1234 (my (weird) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20";
  auto ticks = parseProcStatCpuTicks(stat);
  ASSERT_TRUE(ticks.isOk()) << ticks.status().toString();
  EXPECT_EQ(*ticks, 325u);
}

TEST(MqttLoadProc, RejectsTruncatedStat) {
  EXPECT_FALSE(parseProcStatCpuTicks("1234 (x) S 1 2 3").isOk());
  EXPECT_FALSE(parseProcStatCpuTicks("garbage").isOk());
  EXPECT_FALSE(parseProcStatCpuTicks("1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 1 0").isOk());
}

TEST(MqttLoadProc, ParsesVmRss) {
  auto kb = parseVmRssKb("Name:\tmosquitto\nVmPeak:\t  9000 kB\nVmRSS:\t    5432 kB\nThreads: 1\n");
  ASSERT_TRUE(kb.isOk());
  EXPECT_EQ(*kb, 5432u);
  EXPECT_EQ(parseVmRssKb("Name: x\n").status().code(), Code::kNotFound);
}

TEST(MqttLoadProc, ReadsOwnProcess) {
  auto cpu = processCpuMicros(getpid());
  ASSERT_TRUE(cpu.isOk()) << cpu.status().toString();
  auto rss = processRssKb(getpid());
  ASSERT_TRUE(rss.isOk()) << rss.status().toString();
  EXPECT_GT(*rss, 0u);
  EXPECT_FALSE(processCpuMicros(999999999).isOk());
}

TEST(MqttLoadScenarios, AllHasEightNamedShapes) {
  auto all = parseScenarioList("all");
  ASSERT_TRUE(all.isOk());
  ASSERT_EQ(all->size(), 8u);
  auto fan = scenarioByName("qos1_1to50");
  ASSERT_TRUE(fan.isOk());
  EXPECT_EQ(fan->qos, 1);
  EXPECT_EQ(fan->publishers, 1);
  EXPECT_EQ(fan->subscribers, 50);
  auto rate = scenarioByName("qos0_rate10k");
  ASSERT_TRUE(rate.isOk());
  EXPECT_DOUBLE_EQ(rate->rate, 10000);
  auto ten = scenarioByName("qos0_10to10");
  ASSERT_TRUE(ten.isOk());
  EXPECT_EQ(ten->publishers, 10);
  EXPECT_EQ(ten->subscribers, 10);
}

TEST(MqttLoadScenarios, RejectsUnknownNamesClearly) {
  auto bad = scenarioByName("qos2_1to1");
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("qos2_1to1"), std::string::npos);
  EXPECT_FALSE(scenarioByName("qos0_3to3").isOk());
  EXPECT_FALSE(parseScenarioList("qos0_1to1,nope").isOk());
  EXPECT_FALSE(parseScenarioList(",").isOk());
  auto two = parseScenarioList("qos0_1to1,qos1_1to1");
  ASSERT_TRUE(two.isOk());
  EXPECT_EQ(two->size(), 2u);
}

TEST(MqttLoadOptions, ParsesFlags) {
  auto o = parseLoadOptions({"--port", "18830", "--broker-pid", "77", "--max-messages", "1000",
                             "--max-seconds", "2.5", "--scenarios", "qos1_1to1", "--label",
                             "mosquitto", "--no-header"});
  ASSERT_TRUE(o.isOk()) << o.status().toString();
  EXPECT_EQ(o->port, 18830);
  EXPECT_EQ(o->broker_pid, 77);
  EXPECT_EQ(o->max_messages, 1000u);
  EXPECT_DOUBLE_EQ(o->max_seconds, 2.5);
  EXPECT_EQ(o->label, "mosquitto");
  EXPECT_FALSE(o->header);
  ASSERT_EQ(o->scenarios.size(), 1u);
  EXPECT_EQ(o->scenarios[0].name, "qos1_1to1");
}

TEST(MqttLoadOptions, DefaultsAreBounded) {
  auto o = parseLoadOptions({});
  ASSERT_TRUE(o.isOk());
  EXPECT_EQ(o->max_messages, 200000u);
  EXPECT_DOUBLE_EQ(o->max_seconds, 10.0);
  EXPECT_EQ(o->payload_bytes, 64u);
  EXPECT_EQ(o->scenarios.size(), 8u);
  EXPECT_EQ(o->label, "127.0.0.1:1883");
}

TEST(MqttLoadOptions, RejectsBadValuesNamingTheFlag) {
  auto missing = parseLoadOptions({"--port"});
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find("--port"), std::string::npos);
  auto port = parseLoadOptions({"--port", "70000"});
  ASSERT_FALSE(port.isOk());
  EXPECT_NE(port.status().message().find("--port"), std::string::npos);
  EXPECT_FALSE(parseLoadOptions({"--payload", "8"}).isOk());
  EXPECT_FALSE(parseLoadOptions({"--max-seconds", "abc"}).isOk());
  EXPECT_FALSE(parseLoadOptions({"--max-seconds", "-1"}).isOk());
  EXPECT_FALSE(parseLoadOptions({"--window", "0"}).isOk());
  auto unknown = parseLoadOptions({"--frobnicate", "1"});
  ASSERT_FALSE(unknown.isOk());
  EXPECT_NE(unknown.status().message().find("--frobnicate"), std::string::npos);
}

}  // namespace
}  // namespace evg::bench
