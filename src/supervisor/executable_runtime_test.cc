// Lambda executables: argv, handler checks and the LD_LIBRARY_PATH that puts Evergreen's C SDK
// first (supervisor/executable_runtime.h).

#include "supervisor/executable_runtime.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace evg::supervisor {
namespace {

namespace fs = std::filesystem;

class ExecutableRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("evg_exec_rt_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(root_ / "code" / "bin");
    fs::create_directories(root_ / "runtime" / "executable");
    fs::create_directories(root_ / "override");
    touch(root_ / "code" / "hello", 0755);
    touch(root_ / "code" / "bin" / "tool", 0755);
    touch(root_ / "code" / "data.txt", 0644);
    touch(root_ / "runtime" / "executable" / std::string(kCSdkLibraryName), 0644);
    spec_.arn = "arn:aws:lambda:us-east-1:123456789012:function:C:1";
    spec_.runtime = std::string(kExecutableRuntime);
    spec_.handler = "hello";
    spec_.code_dir = (root_ / "code").string();
    paths_.runtime_dir = (root_ / "runtime").string();
    unsetenv("EVERGREEN_C_SDK_DIR");
  }
  void TearDown() override {
    unsetenv("EVERGREEN_C_SDK_DIR");
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  static void touch(const fs::path& p, mode_t mode) {
    std::ofstream(p) << "x";
    ::chmod(p.c_str(), mode);
  }

  fs::path root_;
  functions::FunctionSpec spec_;
  RuntimePaths paths_;
};

TEST_F(ExecutableRuntimeTest, RuntimeIdIsExact) {
  EXPECT_TRUE(isExecutableRuntime("arn:aws:greengrass:::runtime/function/executable"));
  EXPECT_FALSE(isExecutableRuntime("arn:aws:greengrass:::runtime/function/executable2"));
  EXPECT_FALSE(isExecutableRuntime("python3.8"));
  EXPECT_FALSE(isExecutableRuntime(""));
}

TEST_F(ExecutableRuntimeTest, CommandIsTheExecutableInTheCodeDir) {
  auto argv = workerCommand(spec_, paths_);  // through the runtime dispatcher
  ASSERT_TRUE(argv.isOk()) << argv.status().message();
  EXPECT_EQ(*argv, std::vector<std::string>{(root_ / "code" / "hello").string()});
  spec_.handler = "bin/tool";
  argv = executableCommand(spec_, paths_);
  ASSERT_TRUE(argv.isOk()) << argv.status().message();
  EXPECT_EQ((*argv)[0], (root_ / "code" / "bin" / "tool").string());
}

TEST_F(ExecutableRuntimeTest, BadHandlersAreRefusedWithTheReason) {
  struct Case {
    std::string handler, needle;
  } cases[] = {{"", "no handler"},
               {"/bin/sh", "inside the function's code directory"},
               {"../hello", "inside the function's code directory"},
               {"bin/../../x", "inside the function's code directory"},
               {"missing", "not found"},
               {"bin", "not found"},  // a directory
               {"data.txt", "not executable"}};
  for (const auto& c : cases) {
    spec_.handler = c.handler;
    auto argv = executableCommand(spec_, paths_);
    ASSERT_FALSE(argv.isOk()) << c.handler;
    EXPECT_NE(argv.status().message().find(c.needle), std::string::npos)
        << c.handler << ": " << argv.status().message();
  }
}

TEST_F(ExecutableRuntimeTest, MissingLibraryIsReported) {
  fs::remove(root_ / "runtime" / "executable" / std::string(kCSdkLibraryName));
  paths_.runtime_dir = (root_ / "runtime").string();
  // The build tree's copy may exist (EVG_BUILD_C_SDK_DIR); only check the message when not.
  if (cSdkLibraryDir(paths_).empty()) {
    auto argv = executableCommand(spec_, paths_);
    ASSERT_FALSE(argv.isOk());
    EXPECT_NE(argv.status().message().find(std::string(kCSdkLibraryName)), std::string::npos);
  }
}

TEST_F(ExecutableRuntimeTest, LibraryDirOrderAndLdLibraryPath) {
  EXPECT_EQ(cSdkLibraryDir(paths_), (root_ / "runtime" / "executable").string());
  // $EVERGREEN_C_SDK_DIR wins when it holds the library, is ignored otherwise.
  setenv("EVERGREEN_C_SDK_DIR", (root_ / "override").c_str(), 1);
  EXPECT_EQ(cSdkLibraryDir(paths_), (root_ / "runtime" / "executable").string());
  touch(root_ / "override" / std::string(kCSdkLibraryName), 0644);
  EXPECT_EQ(cSdkLibraryDir(paths_), (root_ / "override").string());
  unsetenv("EVERGREEN_C_SDK_DIR");

  std::map<std::string, std::string> env;
  addExecutableEnvironment(spec_, paths_, env);
  EXPECT_EQ(env["LD_LIBRARY_PATH"], (root_ / "runtime" / "executable").string());
  spec_.env["LD_LIBRARY_PATH"] = "/opt/mine";
  addExecutableEnvironment(spec_, paths_, env);
  EXPECT_EQ(env["LD_LIBRARY_PATH"], (root_ / "runtime" / "executable").string() + ":/opt/mine");

  // The full worker environment carries it (and it is not added for other runtimes).
  WorkerEnvInputs in;
  in.token = "t";
  bool found = false;
  for (const auto& kv : workerEnvironment(spec_, in, paths_)) {
    if (kv.rfind("LD_LIBRARY_PATH=", 0) == 0) {
      found = true;
      EXPECT_EQ(kv,
                "LD_LIBRARY_PATH=" + (root_ / "runtime" / "executable").string() + ":/opt/mine");
    }
  }
  EXPECT_TRUE(found);
  spec_.runtime = "python3.8";
  spec_.env.clear();
  for (const auto& kv : workerEnvironment(spec_, in, paths_)) {
    EXPECT_NE(kv.rfind("LD_LIBRARY_PATH=", 0), 0u) << kv;
  }
}

}  // namespace
}  // namespace evg::supervisor
