#include "broker/conn_poller.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace evg::broker {
namespace {

struct Pair {
  int a = -1;  // added to the poller
  int b = -1;  // the test's end
  Pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0) {
      a = fds[0];
      b = fds[1];
    }
  }
  ~Pair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

// n socket pairs, each added under key first_key + i with one byte waiting to be read.
std::vector<Pair> readyPairs(ConnPoller& poller, size_t n, uint64_t first_key = 0) {
  std::vector<Pair> pairs(n);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(poller.add(pairs[i].a, first_key + i).isOk());
    EXPECT_EQ(::write(pairs[i].b, "x", 1), 1);
  }
  return pairs;
}

TEST(ConnPollerTest, ReportsInputWithTheKeyAndOnlyOncePerEdge) {
  boost::asio::io_context io;
  ConnPoller poller(io, 16);
  std::map<uint64_t, int> input;
  ASSERT_TRUE(poller
                  .open([&](uint64_t key, uint32_t ev) {
                    if (ev & EPOLLIN) ++input[key];
                  })
                  .isOk());
  Pair p;
  ASSERT_TRUE(poller.add(p.a, 42).isOk());
  io.run_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(input.empty());  // nothing to read yet (the first report is EPOLLOUT only)
  ASSERT_EQ(::write(p.b, "x", 1), 1);
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(input[42], 1);
  // Unread bytes do not report again (edge-triggered): the owner reads dry; new bytes do.
  io.restart();
  io.run_for(std::chrono::milliseconds(30));
  EXPECT_EQ(input[42], 1);
  ASSERT_EQ(::write(p.b, "y", 1), 1);
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(input[42], 2);
}

TEST(ConnPollerTest, MoreReadySocketsThanOneTurnTakesAreAllReported) {
  boost::asio::io_context io;
  ConnPoller poller(io, 3);  // 10 ready sockets: four turns
  std::map<uint64_t, int> input;
  ASSERT_TRUE(poller
                  .open([&](uint64_t key, uint32_t ev) {
                    if (ev & EPOLLIN) ++input[key];
                  })
                  .isOk());
  auto pairs = readyPairs(poller, 10, 100);
  io.run_for(std::chrono::milliseconds(100));
  ASSERT_EQ(input.size(), 10u);
  for (auto& [k, n] : input) EXPECT_EQ(n, 1) << k;
}

TEST(ConnPollerTest, BatchDoneFollowsEachBatchOfEvents) {
  boost::asio::io_context io;
  ConnPoller poller(io, 4);  // 6 ready sockets: two batches
  std::vector<std::string> seen;
  ASSERT_TRUE(poller
                  .open(
                      [&](uint64_t, uint32_t ev) {
                        if (ev & EPOLLIN) seen.push_back("e");
                      },
                      [&] { seen.push_back("|"); })
                  .isOk());
  auto pairs = readyPairs(poller, 6, 0);
  io.run_for(std::chrono::milliseconds(100));
  std::string order;
  for (auto& s : seen) order += s;
  EXPECT_EQ(order, "eeee|ee|");
}

TEST(ConnPollerTest, ReportsRoomToWriteAfterASendHitEagain) {
  boost::asio::io_context io;
  ConnPoller poller(io, 16);
  int output = 0;
  ASSERT_TRUE(poller
                  .open([&](uint64_t, uint32_t ev) {
                    if (ev & EPOLLOUT) ++output;
                  })
                  .isOk());
  Pair p;
  ASSERT_TRUE(poller.add(p.a, 1).isOk());
  io.run_for(std::chrono::milliseconds(20));
  const int initial = output;  // writable at once
  char chunk[4096] = {};
  while (::send(p.a, chunk, sizeof chunk, MSG_DONTWAIT) > 0) {
  }
  ASSERT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
  io.restart();
  io.run_for(std::chrono::milliseconds(30));
  EXPECT_EQ(output, initial);  // still full
  char sink[1 << 16];
  while (::read(p.b, sink, sizeof sink) > 0) {
  }
  io.restart();
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_GT(output, initial);
}

TEST(ConnPollerTest, PeerHangupIsReported) {
  boost::asio::io_context io;
  ConnPoller poller(io, 16);
  uint32_t seen = 0;
  ASSERT_TRUE(poller.open([&](uint64_t, uint32_t ev) { seen |= ev; }).isOk());
  Pair p;
  ASSERT_TRUE(poller.add(p.a, 7).isOk());
  ::close(p.b);
  p.b = -1;
  io.run_for(std::chrono::milliseconds(50));
  EXPECT_NE(seen & (EPOLLRDHUP | EPOLLHUP), 0u);
}

TEST(ConnPollerTest, CloseLetsTheLoopEndAndRefusesNewSockets) {
  boost::asio::io_context io;
  ConnPoller poller(io, 16);
  int calls = 0;
  ASSERT_TRUE(poller.open([&](uint64_t, uint32_t) { ++calls; }).isOk());
  EXPECT_TRUE(poller.isOpen());
  poller.close();
  EXPECT_FALSE(poller.isOpen());
  Pair p;
  Status st = poller.add(p.a, 1);
  EXPECT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("closed"), std::string::npos) << st.message();
  // No pending wait is left: run() returns at once instead of blocking.
  auto t0 = std::chrono::steady_clock::now();
  io.run();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(calls, 0);
}

TEST(ConnPollerTest, AHandlerMayCloseThePollerMidBatch) {
  boost::asio::io_context io;
  ConnPoller poller(io, 16);
  int calls = 0;
  ASSERT_TRUE(poller
                  .open([&](uint64_t, uint32_t ev) {
                    if ((ev & EPOLLIN) == 0) return;
                    ++calls;
                    poller.close();
                  })
                  .isOk());
  auto pairs = readyPairs(poller, 4, 0);
  io.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(calls, 1);
}

// Batches of input as the handler saw them (keys), with the time each batch's first event was
// handled; EPOLLOUT-only reports are left out.
struct BatchLog {
  using Clock = std::chrono::steady_clock;
  std::vector<uint64_t> current;
  Clock::time_point current_start;
  std::vector<std::vector<uint64_t>> batches;
  std::vector<Clock::time_point> starts;
  Status open(ConnPoller& poller) {
    return poller.open(
        [this](uint64_t key, uint32_t ev) {
          if ((ev & EPOLLIN) == 0) return;
          if (current.empty()) current_start = Clock::now();
          current.push_back(key);
        },
        [this] {
          if (current.empty()) return;
          batches.push_back(std::move(current));
          starts.push_back(current_start);
          current.clear();
        });
  }
  // Runs the loop until one more batch of input was handled (false after 2 s without one).
  bool runUntilNextBatch(boost::asio::io_context& io) {
    const size_t before = batches.size();
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    while (batches.size() == before && Clock::now() < deadline) {
      io.restart();
      io.run_one_for(std::chrono::milliseconds(10));
    }
    return batches.size() > before;
  }
};

void readAll(int fd) {
  char buf[64];
  while (::read(fd, buf, sizeof buf) > 0) {
  }
}

TEST(ConnPollerTest, CoalescingSpacesBatchesOnlyAfterBusyWakeupsInARow) {
  using namespace std::chrono_literals;
  using Clock = std::chrono::steady_clock;
  boost::asio::io_context io;
  // 100 ms so that the test's own scheduling noise cannot blur it; the broker uses ~30 us.
  ConnPoller poller(io, 16, ConnPoller::Coalescing{100ms, 2});
  BatchLog log;
  ASSERT_TRUE(log.open(poller).isOk());
  Pair a, b, c, d;
  ASSERT_TRUE(poller.add(a.a, 1).isOk());
  ASSERT_TRUE(poller.add(b.a, 2).isOk());
  ASSERT_TRUE(poller.add(c.a, 3).isOk());
  ASSERT_TRUE(poller.add(d.a, 4).isOk());
  io.run_for(20ms);                    // the sockets' first reports (room to write)
  std::this_thread::sleep_for(150ms);  // a quiet gap: no streak

  // First wake-up after a quiet gap: handled at once.
  auto t0 = Clock::now();
  ASSERT_EQ(::write(a.b, "x", 1), 1);
  ASSERT_TRUE(log.runUntilNextBatch(io));
  readAll(a.a);
  EXPECT_LT(log.starts.back() - t0, 50ms);
  // Second: sooner than the delay after the first batch, but one quick wake-up is not a streak.
  t0 = Clock::now();
  ASSERT_EQ(::write(b.b, "x", 1), 1);
  ASSERT_TRUE(log.runUntilNextBatch(io));
  readAll(b.a);
  const auto second_end = Clock::now();
  EXPECT_LT(log.starts.back() - t0, 50ms);
  EXPECT_EQ(poller.coalescedBatches(), 0u);

  // Third quick wake-up in a row: the batch waits until 100 ms after the previous one ended and
  // takes what arrived meanwhile (d, written 30 ms later) with it: one batch, not two.
  ASSERT_EQ(::write(c.b, "x", 1), 1);
  std::thread later([&] {
    std::this_thread::sleep_for(30ms);
    EXPECT_EQ(::write(d.b, "x", 1), 1);
  });
  ASSERT_TRUE(log.runUntilNextBatch(io));
  later.join();
  readAll(c.a);
  readAll(d.a);
  ASSERT_EQ(log.batches.size(), 3u);
  EXPECT_EQ(log.batches.back(), (std::vector<uint64_t>{3, 4}))
      << "c and d in one batch: " << log.batches.back().size() << " keys";
  EXPECT_GE(log.starts.back() - second_end, 90ms);
  EXPECT_EQ(poller.coalescedBatches(), 1u);

  // A quiet gap longer than the delay ends the streak: the next input is handled at once.
  std::this_thread::sleep_for(150ms);
  t0 = Clock::now();
  ASSERT_EQ(::write(a.b, "y", 1), 1);
  ASSERT_TRUE(log.runUntilNextBatch(io));
  EXPECT_LT(log.starts.back() - t0, 50ms);
  EXPECT_EQ(poller.coalescedBatches(), 1u);
}

TEST(ConnPollerTest, WithoutCoalescingInputIsTakenAsItArrives) {
  using namespace std::chrono_literals;
  boost::asio::io_context io;
  ConnPoller poller(io, 16);  // the default: off
  BatchLog log;
  ASSERT_TRUE(log.open(poller).isOk());
  Pair a, b;
  ASSERT_TRUE(poller.add(a.a, 1).isOk());
  ASSERT_TRUE(poller.add(b.a, 2).isOk());
  io.run_for(20ms);
  for (int i = 0; i < 3; ++i) {  // a streak of quick wake-ups changes nothing
    ASSERT_EQ(::write(a.b, "x", 1), 1);
    ASSERT_TRUE(log.runUntilNextBatch(io));
    readAll(a.a);
  }
  ASSERT_EQ(::write(a.b, "x", 1), 1);
  std::thread later([&] {
    std::this_thread::sleep_for(30ms);
    EXPECT_EQ(::write(b.b, "x", 1), 1);
  });
  ASSERT_TRUE(log.runUntilNextBatch(io));
  ASSERT_TRUE(log.runUntilNextBatch(io));
  later.join();
  ASSERT_EQ(log.batches.size(), 5u);
  EXPECT_EQ(log.batches[3], std::vector<uint64_t>{1});
  EXPECT_EQ(log.batches[4], std::vector<uint64_t>{2});
  EXPECT_EQ(poller.coalescedBatches(), 0u);
}

}  // namespace
}  // namespace evg::broker
