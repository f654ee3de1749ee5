// Stream manager load client (issue 13 bench): speaks the §6 wire protocol (our framing + CBOR
// from src/streammgr/protocol.h) to a running core's stream manager on 127.0.0.1:PORT
// (STREAM_MANAGER_AUTHENTICATE_CLIENT=false) over one TCP connection with TCP_NODELAY.
//
//   streammgr_load PORT append STREAM COUNT SIZE WINDOW [flush]   -> appends/s
//   streammgr_load PORT latency STREAM COUNT SIZE                 -> append->long-poll read p50/p99
//   streammgr_load PORT create STREAM [memory]
//
// `append` keeps WINDOW requests in flight (the SDKs allow any number per socket); WINDOW 1 is
// one request at a time (what a synchronous SDK caller does). `latency` uses two connections: a
// long-polling ReadMessages for the next sequence number is parked, then one append; the time
// from sending the append to receiving the read answer is one sample. Prints one JSON line.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "streammgr/protocol.h"

using namespace evg::streammgr;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& m) {
  fprintf(stderr, "streammgr_load: %s\n", m.c_str());
  exit(2);
}

class Conn {
 public:
  explicit Conn(int port) : dec_(1u << 30) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("connect failed");
    sendAll(std::string(1, '\1') +
            encodeFrame(Op::kConnect, encodeCbor({{"requestId", "c"},
                                                  {"protocolVersion", "1.1.0"},
                                                  {"sdkVersion", "bench"}})));
    char v = 0;
    if (::read(fd_, &v, 1) != 1 || v != 1) die("no version byte");
    auto r = recv();
    if (r.first != Op::kConnectResponse || r.second["status"] != 0) die("connect refused");
  }
  ~Conn() { ::close(fd_); }
  void sendAll(const std::string& b) {
    size_t off = 0;
    while (off < b.size()) {
      ssize_t n = ::write(fd_, b.data() + off, b.size() - off);
      if (n <= 0) die("write failed");
      off += static_cast<size_t>(n);
    }
  }
  void send(Op op, const json& m) { sendAll(encodeFrame(op, encodeCbor(m))); }
  std::pair<Op, json> recv() {
    while (true) {
      auto f = dec_.next();
      if (!f) die("bad frame");
      if (f->has_value()) {
        auto j = decodeCbor((*f)->payload);
        if (!j) die("bad cbor");
        return {(*f)->op, *j};
      }
      char buf[65536];
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) die("connection closed");
      dec_.feed(std::string_view(buf, static_cast<size_t>(n)));
    }
  }

 private:
  int fd_;
  FrameDecoder dec_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) die("usage: see the header of bench/streammgr_load.cc");
  int port = atoi(argv[1]);
  std::string mode = argv[2], stream = argv[3];
  Conn c(port);
  if (mode == "create") {
    bool memory = argc > 4 && std::string(argv[4]) == "memory";
    c.send(Op::kCreateMessageStream,
           {{"requestId", "cr"},
            {"definition",
             {{"name", stream}, {"strategyOnFull", 1}, {"persistence", memory ? 1 : 0}}}});
    auto r = c.recv();
    printf("{\"created\": %s}\n", r.second["status"] == 0 ? "true" : "false");
    return r.second["status"] == 0 ? 0 : 1;
  }
  if (argc < 6) die("missing COUNT SIZE");
  long count = atol(argv[4]);
  size_t size = static_cast<size_t>(atol(argv[5]));
  std::string payload(size, 'p');
  if (mode == "append") {
    long window = argc > 6 ? atol(argv[6]) : 1;
    bool flush = argc > 7 && std::string(argv[7]) == "flush";
    c.send(Op::kCreateMessageStream,
           {{"requestId", "cr"},
            {"definition", {{"name", stream}, {"strategyOnFull", 1}, {"flushOnWrite", flush}}}});
    c.recv();  // exists is fine
    json req = {{"requestId", ""}, {"name", stream}, {"payload", bytesValue(payload)}};
    long sent = 0, done = 0;
    auto t0 = Clock::now();
    while (done < count) {
      std::string batch;
      while (sent < count && sent - done < window) {
        req["requestId"] = std::to_string(sent++);
        batch += encodeFrame(Op::kAppendMessage, encodeCbor(req));
      }
      if (!batch.empty()) c.sendAll(batch);
      auto r = c.recv();
      if (r.second["status"] != 0) die("append failed: " + r.second.dump());
      ++done;
    }
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    printf(
        "{\"mode\": \"append\", \"count\": %ld, \"size\": %zu, \"window\": %ld, \"flush\": %s, "
        "\"seconds\": %.3f, \"per_second\": %.0f}\n",
        count, size, window, flush ? "true" : "false", s, count / s);
    return 0;
  }
  if (mode == "latency") {
    Conn reader(port);
    c.send(Op::kCreateMessageStream,
           {{"requestId", "cr"}, {"definition", {{"name", stream}, {"strategyOnFull", 1}}}});
    c.recv();
    c.send(Op::kAppendMessage,
           {{"requestId", "first"}, {"name", stream}, {"payload", bytesValue(payload)}});
    int64_t next = c.recv().second["sequenceNumber"].get<int64_t>() + 1;
    std::vector<double> us;
    for (long i = 0; i < count; ++i) {
      reader.send(Op::kReadMessages, {{"requestId", "r" + std::to_string(i)},
                                      {"streamName", stream},
                                      {"readMessagesOptions",
                                       {{"desiredStartSequenceNumber", next},
                                        {"minMessageCount", 1},
                                        {"maxMessageCount", 1},
                                        {"readTimeoutMillis", 10000}}}});
      // Give the read time to park (the answer must come from the append, not from the store).
      usleep(200);
      auto t0 = Clock::now();
      c.send(Op::kAppendMessage, {{"requestId", "a" + std::to_string(i)},
                                  {"name", stream},
                                  {"payload", bytesValue(payload)}});
      auto r = reader.recv();
      auto t1 = Clock::now();
      if (r.second["status"] != 0 || r.second["messages"].size() != 1) die("read failed");
      c.recv();
      us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      ++next;
    }
    std::sort(us.begin(), us.end());
    printf("{\"mode\": \"latency\", \"count\": %ld, \"p50_us\": %.1f, \"p99_us\": %.1f}\n", count,
           us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]);
    return 0;
  }
  die("unknown mode " + mode);
}
