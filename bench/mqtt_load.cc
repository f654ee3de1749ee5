// mqtt_load: MQTT broker load generator (libmosquitto, MQTT 3.1.1, TCP_NODELAY on every client).
//
// Flow per scenario: connect all subscribers and wait for CONNACK+SUBACK, connect publishers,
// sample the broker's CPU (/proc/<pid>/stat), then run one poll() loop that owns every client:
// read whatever arrived, then top up each publisher (bounded by --window un-delivered messages,
// the per-scenario message cap and, in rate scenarios, the schedule), until the count or time
// bound is hit; then drain in-flight messages, sample the CPU again and print one TSV row.
// Latency = receive time - CLOCK_MONOTONIC time embedded in the payload (same host).

#include <mosquitto.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "mqtt_load_lib.h"

namespace evg::bench {
namespace {

constexpr int kMaxPacketsPerWakeup = 256;  // bound on reads per ready socket per loop turn
constexpr int kMaxPublishBurst = 64;       // bound on publishes per publisher per loop turn
constexpr double kSetupTimeoutS = 10.0;    // connect + subscribe must finish within this
constexpr double kStallTimeoutS = 2.0;     // no delivery progress for this long = stalled

struct Run;

struct Client {
  mosquitto* mosq = nullptr;
  Run* run = nullptr;
  int topic = 0;  // publisher: topic it publishes to; subscriber: topic it subscribes to
  bool connected = false;
  bool subscribed = false;
  bool is_publisher = false;
  uint64_t sent = 0;  // publishers only
};

struct Run {
  const LoadOptions* opt = nullptr;
  const Scenario* sc = nullptr;
  std::vector<std::string> topics;
  std::vector<uint64_t> delivered_per_topic;
  std::vector<int> fanout_per_topic;
  uint64_t delivered = 0;
  uint64_t last_delivery_ns = 0;
  std::vector<uint64_t> latencies_ns;
  std::string error;  // first error seen, empty if none
};

void setError(Run* run, const std::string& e) {
  if (run->error.empty()) run->error = e;
}

void onConnect(mosquitto*, void* obj, int rc) {
  auto* c = static_cast<Client*>(obj);
  if (rc != 0) {
    setError(c->run, std::string("CONNACK refused: ") + mosquitto_connack_string(rc));
    return;
  }
  c->connected = true;
}

void onSubscribe(mosquitto*, void* obj, int, int qos_count, const int* granted) {
  auto* c = static_cast<Client*>(obj);
  if (qos_count < 1 || granted[0] > 2) {
    setError(c->run, "SUBACK refused for " + c->run->topics[static_cast<size_t>(c->topic)]);
    return;
  }
  c->subscribed = true;
}

void onMessage(mosquitto*, void* obj, const mosquitto_message* msg) {
  auto* c = static_cast<Client*>(obj);
  Run* run = c->run;
  uint64_t now = monotonicNs();
  uint64_t send_ns = 0, seq = 0;
  Status s = decodePayload(static_cast<const uint8_t*>(msg->payload),
                           static_cast<size_t>(msg->payloadlen), &send_ns, &seq);
  if (!s) {
    setError(run, s.message());
    return;
  }
  run->latencies_ns.push_back(now >= send_ns ? now - send_ns : 0);
  run->delivered_per_topic[static_cast<size_t>(c->topic)]++;
  run->delivered++;
  run->last_delivery_ns = now;
}

class ClientSet {
 public:
  ~ClientSet() {
    for (auto& c : clients_) {
      if (c.mosq) mosquitto_destroy(c.mosq);
    }
  }

  Status add(Run* run, const std::string& id, int topic, bool is_publisher) {
    if (clients_.size() == clients_.capacity()) {
      return Status::internal("ClientSet::add beyond reserve() would move live clients");
    }
    clients_.emplace_back();
    Client& c = clients_.back();
    c.run = run;
    c.topic = topic;
    c.is_publisher = is_publisher;
    const bool clean = is_publisher || !run->opt->persistent_subscribers;
    c.mosq = mosquitto_new(id.c_str(), clean, &c);
    if (!c.mosq) return Status::internal("mosquitto_new failed for " + id);
    mosquitto_int_option(c.mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(c.mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_max_inflight_messages_set(c.mosq, static_cast<unsigned>(run->opt->inflight));
    mosquitto_connect_callback_set(c.mosq, onConnect);
    mosquitto_subscribe_callback_set(c.mosq, onSubscribe);
    mosquitto_message_callback_set(c.mosq, onMessage);
    int rc =
        mosquitto_connect(c.mosq, run->opt->host.c_str(), run->opt->port, run->opt->keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
      return Status::io("connect " + id + " to " + run->opt->host + ":" +
                        std::to_string(run->opt->port) + ": " + mosquitto_strerror(rc));
    }
    return Status::ok();
  }

  // One poll() over every client socket (timeout in ns, 0 = just check); services reads and
  // pending writes.
  Status pump(uint64_t timeout_ns) {
    fds_.resize(clients_.size());
    for (size_t i = 0; i < clients_.size(); ++i) {
      fds_[i].fd = mosquitto_socket(clients_[i].mosq);
      fds_[i].events = POLLIN;
      if (mosquitto_want_write(clients_[i].mosq)) fds_[i].events |= POLLOUT;
      fds_[i].revents = 0;
    }
    timespec ts{static_cast<time_t>(timeout_ns / 1000000000ull),
                static_cast<long>(timeout_ns % 1000000000ull)};
    int n = ppoll(fds_.data(), fds_.size(), &ts, nullptr);
    if (n < 0) return Status::io("poll failed");
    for (size_t i = 0; i < clients_.size() && n > 0; ++i) {
      if (fds_[i].revents == 0) continue;
      mosquitto* m = clients_[i].mosq;
      if (fds_[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        for (int k = 0; k < kMaxPacketsPerWakeup; ++k) {
          int rc = mosquitto_loop_read(m, 1);
          if (rc != MOSQ_ERR_SUCCESS) {
            return Status::io(std::string("connection lost: ") + mosquitto_strerror(rc));
          }
          int avail = 0;
          if (ioctl(fds_[i].fd, FIONREAD, &avail) != 0 || avail <= 0) break;
        }
      }
      if (fds_[i].revents & POLLOUT) {
        int rc = mosquitto_loop_write(m, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
          return Status::io(std::string("write failed: ") + mosquitto_strerror(rc));
        }
      }
    }
    return Status::ok();
  }

  void misc() {
    for (auto& c : clients_) mosquitto_loop_misc(c.mosq);
  }

  void disconnect() {
    for (auto& c : clients_) mosquitto_disconnect(c.mosq);
    for (int i = 0; i < 5; ++i) {
      bool pending = false;
      for (auto& c : clients_) pending = pending || mosquitto_want_write(c.mosq);
      if (!pending) break;
      for (auto& c : clients_) mosquitto_loop_write(c.mosq, 1);
    }
  }

  std::vector<Client>& clients() { return clients_; }
  // Callbacks hold &Client, so reserve the full size before the first add().
  void reserve(size_t n) { clients_.reserve(n); }

 private:
  std::vector<Client> clients_;
  std::vector<pollfd> fds_;
};

struct Row {
  uint64_t sent = 0, delivered = 0, lost = 0;
  double seconds = 0, msg_per_s = 0;
  double p50_us = 0, p99_us = 0, max_us = 0;
  double broker_cpu_us_per_msg = -1;
  double gen_cpu_pct = 0;
  std::string error;
};

uint64_t selfCpuMicros() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto us = [](const timeval& tv) {
    return static_cast<uint64_t>(tv.tv_sec) * 1000000ull + static_cast<uint64_t>(tv.tv_usec);
  };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

Status waitUntil(ClientSet& set, Run& run, bool (*done)(const Client&), double timeout_s) {
  uint64_t deadline = monotonicNs() + static_cast<uint64_t>(timeout_s * 1e9);
  while (true) {
    bool all = true;
    for (auto& c : set.clients()) all = all && done(c);
    if (all) return Status::ok();
    if (!run.error.empty()) return Status::io(run.error);
    if (monotonicNs() > deadline) return Status::timeout("broker did not answer CONNECT/SUBSCRIBE");
    EVG_RETURN_IF_ERROR(set.pump(50000000));
  }
}

Result<Row> runScenario(const LoadOptions& opt, const Scenario& sc, int serial) {
  Run run;
  run.opt = &opt;
  run.sc = &sc;
  std::string prefix = "evgbench/" + std::to_string(getpid()) + "/" + std::to_string(serial) + "/";
  for (int t = 0; t < sc.publishers; ++t) run.topics.push_back(prefix + std::to_string(t));
  run.delivered_per_topic.assign(static_cast<size_t>(sc.publishers), 0);
  run.fanout_per_topic.assign(static_cast<size_t>(sc.publishers), 0);
  const uint64_t per_pub_cap = (opt.max_messages + static_cast<uint64_t>(sc.subscribers) - 1) /
                               static_cast<uint64_t>(sc.subscribers);
  run.latencies_ns.reserve(per_pub_cap * static_cast<uint64_t>(sc.subscribers) + opt.window);

  std::string idp = "evgb" + std::to_string(getpid()) + "-" + std::to_string(serial);
  // One set, one poll loop: subscribers first, then publishers.
  ClientSet all;
  all.reserve(static_cast<size_t>(sc.subscribers + sc.publishers));
  for (int s = 0; s < sc.subscribers; ++s) {
    int topic = s % sc.publishers;
    run.fanout_per_topic[static_cast<size_t>(topic)]++;
    EVG_RETURN_IF_ERROR(all.add(&run, idp + "-s" + std::to_string(s), topic, false));
  }
  EVG_RETURN_IF_ERROR(waitUntil(
      all, run, [](const Client& c) { return c.connected; }, kSetupTimeoutS));
  for (auto& c : all.clients()) {
    int rc = mosquitto_subscribe(c.mosq, nullptr, run.topics[static_cast<size_t>(c.topic)].c_str(),
                                 sc.qos);
    if (rc != MOSQ_ERR_SUCCESS) {
      return Status::io(std::string("subscribe: ") + mosquitto_strerror(rc));
    }
  }
  EVG_RETURN_IF_ERROR(waitUntil(
      all, run, [](const Client& c) { return c.is_publisher || c.subscribed; }, kSetupTimeoutS));
  for (int p = 0; p < sc.publishers; ++p) {
    EVG_RETURN_IF_ERROR(all.add(&run, idp + "-p" + std::to_string(p), p, true));
  }
  EVG_RETURN_IF_ERROR(waitUntil(
      all, run, [](const Client& c) { return c.connected; }, kSetupTimeoutS));

  std::vector<Client*> pub_list;
  for (auto& c : all.clients()) {
    if (c.is_publisher) pub_list.push_back(&c);
  }

  std::vector<uint8_t> buf(opt.payload_bytes);
  Row row;
  uint64_t broker_cpu0 = 0;
  bool have_cpu = false;
  if (opt.broker_pid > 0) {
    auto cpu = processCpuMicros(opt.broker_pid);
    if (!cpu) return cpu.status();
    broker_cpu0 = *cpu;
    have_cpu = true;
  }
  const uint64_t gen_cpu0 = selfCpuMicros();
  const uint64_t start = monotonicNs();
  const uint64_t publish_deadline = start + static_cast<uint64_t>(opt.max_seconds * 1e9);
  const double per_pub_rate = sc.rate / sc.publishers;
  uint64_t last_misc = start;
  uint64_t last_progress = start, last_delivered = 0;
  bool publishing = true;
  uint64_t drain_deadline = 0;

  while (true) {
    uint64_t now = monotonicNs();
    if (!run.error.empty()) break;
    if (run.delivered != last_delivered) last_delivered = run.delivered, last_progress = now;

    uint64_t expected = 0;
    bool any_can_publish = false, all_capped = true;
    uint64_t next_due_ns = UINT64_MAX;
    if (publishing) {
      for (Client* p : pub_list) {
        size_t t = static_cast<size_t>(p->topic);
        int burst = 0;
        while (p->sent < per_pub_cap && burst < kMaxPublishBurst) {
          uint64_t fan = static_cast<uint64_t>(run.fanout_per_topic[t]);
          uint64_t acked = run.delivered_per_topic[t] / fan;
          if (p->sent - acked >= opt.window) break;
          if (per_pub_rate > 0) {
            uint64_t due_ns =
                start + static_cast<uint64_t>(static_cast<double>(p->sent) * 1e9 / per_pub_rate);
            if (due_ns > now) {
              next_due_ns = std::min(next_due_ns, due_ns);
              break;
            }
          }
          Status s = encodePayload(buf.data(), buf.size(), monotonicNs(), p->sent);
          if (!s) return s;
          int rc = mosquitto_publish(p->mosq, nullptr, run.topics[t].c_str(),
                                     static_cast<int>(buf.size()), buf.data(), sc.qos, false);
          if (rc != MOSQ_ERR_SUCCESS) {
            setError(&run, std::string("publish: ") + mosquitto_strerror(rc));
            break;
          }
          p->sent++;
          burst++;
        }
        if (p->sent < per_pub_cap) all_capped = false;
        if (burst == kMaxPublishBurst) any_can_publish = true;
      }
      now = monotonicNs();
      if (all_capped || now >= publish_deadline) {
        publishing = false;
        drain_deadline = now + static_cast<uint64_t>(opt.drain_seconds * 1e9);
      }
    }
    for (Client* p : pub_list) {
      expected +=
          p->sent * static_cast<uint64_t>(run.fanout_per_topic[static_cast<size_t>(p->topic)]);
    }
    if (!publishing && (run.delivered >= expected || now >= drain_deadline)) break;
    if (now - last_progress > static_cast<uint64_t>(kStallTimeoutS * 1e9)) {
      setError(&run, "stalled: no delivery for " +
                         std::to_string(static_cast<int>(kStallTimeoutS)) + " s");
      break;
    }

    uint64_t timeout_ns = 100000000;  // idle wake-up for the stall and drain checks
    if (any_can_publish) {
      timeout_ns = 0;
    } else if (next_due_ns != UINT64_MAX) {
      timeout_ns = next_due_ns > now ? std::min(timeout_ns, next_due_ns - now) : 0;
    }
    Status s = all.pump(timeout_ns);
    if (!s) {
      setError(&run, s.message());
      break;
    }
    if (now - last_misc > 1000000000ull) {
      all.misc();
      last_misc = now;
    }
  }

  const uint64_t end = monotonicNs();
  if (have_cpu) {
    auto cpu = processCpuMicros(opt.broker_pid);
    if (!cpu) return cpu.status();
    if (run.delivered > 0) {
      row.broker_cpu_us_per_msg =
          static_cast<double>(*cpu - broker_cpu0) / static_cast<double>(run.delivered);
    }
  }
  const uint64_t gen_cpu = selfCpuMicros() - gen_cpu0;
  for (Client* p : pub_list) {
    row.sent += p->sent;
    row.lost +=
        p->sent * static_cast<uint64_t>(run.fanout_per_topic[static_cast<size_t>(p->topic)]);
  }
  row.delivered = run.delivered;
  row.lost = row.lost > run.delivered ? row.lost - run.delivered : 0;
  uint64_t active_end = run.last_delivery_ns > start ? run.last_delivery_ns : end;
  row.seconds = static_cast<double>(active_end - start) / 1e9;
  row.msg_per_s = row.seconds > 0 ? static_cast<double>(run.delivered) / row.seconds : 0;
  row.gen_cpu_pct = 100.0 * static_cast<double>(gen_cpu) / (static_cast<double>(end - start) / 1e3);
  row.p50_us = static_cast<double>(percentile(run.latencies_ns, 50)) / 1e3;
  row.p99_us = static_cast<double>(percentile(run.latencies_ns, 99)) / 1e3;
  row.max_us = static_cast<double>(percentile(run.latencies_ns, 100)) / 1e3;
  row.error = run.error;

  all.disconnect();
  return row;
}

int realMain(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(loadUsage().c_str(), stdout);
      return 0;
    }
  }
  auto opt = parseLoadOptions(args);
  if (!opt) {
    std::fprintf(stderr, "mqtt_load: %s\n%s", opt.status().message().c_str(), loadUsage().c_str());
    return 2;
  }
  mosquitto_lib_init();
  if (opt->header) {
    std::printf(
        "broker\tscenario\tqos\tpubs\tsubs\tsent\tdelivered\tlost\tseconds\tmsg_per_s\tp50_us\t"
        "p99_us\tmax_us\tbroker_cpu_us_per_msg\tgen_cpu_pct\terror\n");
    std::fflush(stdout);
  }
  int failures = 0;
  int serial = 0;
  for (const Scenario& sc : opt->scenarios) {
    auto row = runScenario(*opt, sc, serial++);
    if (!row) {
      ++failures;
      std::printf("%s\t%s\t%d\t%d\t%d\t0\t0\t0\t0\t0\t0\t0\t0\t-1\t0\t%s\n", opt->label.c_str(),
                  sc.name.c_str(), sc.qos, sc.publishers, sc.subscribers,
                  row.status().toString().c_str());
    } else {
      if (!row->error.empty()) ++failures;
      std::printf(
          "%s\t%s\t%d\t%d\t%d\t%llu\t%llu\t%llu\t%.3f\t%.0f\t%.1f\t%.1f\t%.1f\t%.3f\t%.0f\t%s\n",
          opt->label.c_str(), sc.name.c_str(), sc.qos, sc.publishers, sc.subscribers,
          static_cast<unsigned long long>(row->sent),
          static_cast<unsigned long long>(row->delivered),
          static_cast<unsigned long long>(row->lost), row->seconds, row->msg_per_s, row->p50_us,
          row->p99_us, row->max_us, row->broker_cpu_us_per_msg, row->gen_cpu_pct,
          row->error.empty() ? "-" : row->error.c_str());
    }
    std::fflush(stdout);
    // Let the broker finish tearing down the sessions before the next scenario's CPU sample.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  mosquitto_lib_cleanup();
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace evg::bench

int main(int argc, char** argv) { return evg::bench::realMain(argc, argv); }
