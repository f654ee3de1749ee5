#include "daemon/control.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

namespace evg::daemon {
namespace {

TEST(ControlTest, RequestResponseAndErrors) {
  auto dir = std::filesystem::temp_directory_path() / ("evg_ctl_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "c.sock").string();
  boost::asio::io_context io;
  ControlServer server(
      io, path,
      [](const nlohmann::json& req, ControlServer::Reply reply) {
        reply({{"ok", true}, {"result", {{"echo", req.value("op", "")}}}});
      },
      Log());
  ASSERT_TRUE(server.start().isOk());
  std::thread t([&] { io.run_for(std::chrono::seconds(5)); });
  auto r = controlCall(path, {{"op", "status"}}, 2000);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ((*r)["result"]["echo"], "status");
  // A second server on the same live socket is refused.
  boost::asio::io_context io2;
  ControlServer second(
      io2, path, [](const nlohmann::json&, ControlServer::Reply) {}, Log());
  EXPECT_EQ(second.start().code(), Code::kBusy);
  io.stop();
  t.join();
  server.stop();
  auto none = controlCall(path, {{"op", "status"}}, 500);
  EXPECT_EQ(none.status().code(), Code::kNotFound);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace evg::daemon
