// SubscriptionTable::match() cost versus table size (10, 100, 1,000, 10,000 subscriptions).
// Subjects are a mix of exact ("sensors/<i>/temp"), single-level wildcard
// ("sensors/+/status/<i>") and multi-level wildcard ("zone/<i>/#") filters.
//   BM_MatchManySources: 10 subscriptions per source (a typical group: many devices/functions).
//   BM_MatchOneSource:   every subscription has the same source (worst case for the index).
// Each iteration routes one topic that hits exactly one subscription. Expect flat ns/op.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "router/subscription_table.h"

namespace {

using evg::router::Endpoint;
using evg::router::SubscriptionTable;

struct Fixture {
  SubscriptionTable table;
  std::vector<std::pair<Endpoint, std::string>> probes;  // (source, topic)
};

Fixture build(int n, int subs_per_source) {
  Fixture f;
  const Endpoint target = Endpoint::cloud();
  auto source_of = [&](int i) {
    return Endpoint::thing("dev" + std::to_string(i / subs_per_source));
  };
  for (int i = 0; i < n; ++i) {
    std::string subject;
    switch (i % 3) {
      case 0:
        subject = "sensors/" + std::to_string(i) + "/temp";
        break;
      case 1:
        subject = "sensors/+/status/" + std::to_string(i);
        break;
      default:
        subject = "zone/" + std::to_string(i) + "/#";
        break;
    }
    (void)f.table.add(source_of(i), subject, target, "s" + std::to_string(i));
  }
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> pick(0, n - 1);
  for (int k = 0; k < 256; ++k) {
    int i = pick(rng);
    std::string topic;
    switch (i % 3) {
      case 0:
        topic = "sensors/" + std::to_string(i) + "/temp";
        break;
      case 1:
        topic = "sensors/x" + std::to_string(k) + "/status/" + std::to_string(i);
        break;
      default:
        topic = "zone/" + std::to_string(i) + "/floor/3/room";
        break;
    }
    f.probes.emplace_back(source_of(i), topic);
  }
  return f;
}

void runMatch(benchmark::State& state, int subs_per_source) {
  const int n = static_cast<int>(state.range(0));
  Fixture f = build(n, subs_per_source == 0 ? n : subs_per_source);
  size_t delivered = 0;
  size_t k = 0;
  for (auto _ : state) {
    const auto& [source, topic] = f.probes[k++ & 255];
    f.table.match(source, topic, [&](const Endpoint&, const std::string&) { ++delivered; });
  }
  benchmark::DoNotOptimize(delivered);
  if (delivered != static_cast<size_t>(state.iterations())) {
    state.SkipWithError("every probe should match exactly one subscription");
  }
  state.counters["subscriptions"] = static_cast<double>(n);
}

void BM_MatchManySources(benchmark::State& state) { runMatch(state, 10); }
void BM_MatchOneSource(benchmark::State& state) { runMatch(state, 0); }

}  // namespace

BENCHMARK(BM_MatchManySources)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000);
BENCHMARK(BM_MatchOneSource)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000);

BENCHMARK_MAIN();
