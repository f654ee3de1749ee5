#include "broker/conn_poller.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <map>
#include <string>
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

}  // namespace
}  // namespace evg::broker
