#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "supervisor/backoff.h"
#include "supervisor/log_pipe.h"
#include "supervisor/runtime_command.h"
#include "supervisor/worker_registry.h"
#include "supervisor/worker_spawner.h"

namespace evg::supervisor {
namespace {

std::string readAll(int fd) {
  std::string out;
  char buf[256];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EAGAIN) {
      usleep(1000);
    } else {
      break;
    }
  }
  return out;
}

int waitExit(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(NoContainerSpawnerTest, RunsWithLogPipesCwdAndEnv) {
  NoContainerSpawner sp({/*allow_root=*/true});
  SpawnSpec s;
  s.argv = {"/bin/sh", "-c",
            "echo out:$FOO; echo err >&2; echo dbg >&3; echo warn >&4; echo fatal >&5;"
            " echo trace >&6; pwd; ls /proc/self/fd | wc -l; exit 3"};
  s.env = {"FOO=bar", "PATH=/usr/bin:/bin"};
  s.cwd = "/tmp";
  auto h = sp.spawn(s);
  ASSERT_TRUE(h.isOk()) << h.status().toString();
  ASSERT_EQ(h->pipes.size(), 6u);
  std::map<LogLevel, std::string> got;
  for (auto& p : h->pipes) {
    got[p.level] = readAll(p.fd);
    close(p.fd);
  }
  EXPECT_EQ(waitExit(h->pid), 3);
  // stdout: INFO; the shell saw only fds 0-6 plus the one ls opens for /proc/self/fd.
  EXPECT_EQ(got[LogLevel::kInfo], "out:bar\n/tmp\n8\n");
  EXPECT_EQ(got[LogLevel::kError], "err\n");
  EXPECT_EQ(got[LogLevel::kDebug], "dbg\n");
  EXPECT_EQ(got[LogLevel::kWarn], "warn\n");
  EXPECT_EQ(got[LogLevel::kFatal], "fatal\n");
  EXPECT_EQ(got[LogLevel::kTrace], "trace\n");
}

// Standby workers: SpawnSpec::stdin_fd becomes the child's fd 0 (instead of /dev/null); the
// child reads what the host writes, then EOF once the host closes its end.
TEST(NoContainerSpawnerTest, StdinPipeReplacesDevNull) {
  NoContainerSpawner sp({true});
  int go[2];
  ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);
  SpawnSpec s;
  s.argv = {"/bin/sh", "-c", "head -c 1; echo; cat; echo eof; ls /proc/self/fd | wc -l"};
  s.env = {"PATH=/usr/bin:/bin"};
  s.cwd = "/tmp";
  s.stdin_fd = go[0];
  auto h = sp.spawn(s);
  close(go[0]);
  ASSERT_TRUE(h.isOk()) << h.status().toString();
  ASSERT_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  std::string out;
  for (auto& p : h->pipes) {
    if (p.level == LogLevel::kInfo) out = readAll(p.fd);
    close(p.fd);
  }
  EXPECT_EQ(waitExit(h->pid), 0);
  EXPECT_EQ(out, "g\neof\n8\n");  // no descriptor beyond 0-6 (+ the one ls opens)
}

TEST(NoContainerSpawnerTest, ChildIsSessionLeader) {
  NoContainerSpawner sp({true});
  SpawnSpec s;
  s.argv = {"/bin/sh", "-c", "ps -o sid= -p $$ 2>/dev/null || cat /proc/$$/stat"};
  auto h = sp.spawn(s);
  ASSERT_TRUE(h.isOk());
  std::string out;
  for (auto& p : h->pipes) {
    if (p.level == LogLevel::kInfo) out = readAll(p.fd);
    close(p.fd);
  }
  waitExit(h->pid);
  EXPECT_NE(out.find(std::to_string(h->pid)), std::string::npos) << out;
}

TEST(NoContainerSpawnerTest, ExecFailureIsReportedNotCrashed) {
  NoContainerSpawner sp({true});
  SpawnSpec s;
  s.argv = {"/nonexistent/python"};
  auto h = sp.spawn(s);
  ASSERT_FALSE(h.isOk());
  EXPECT_EQ(h.status().code(), Code::kIo);
  EXPECT_NE(h.status().message().find("execve"), std::string::npos);
  EXPECT_NE(h.status().message().find("No such file"), std::string::npos);
  s.argv = {"/bin/true"};
  s.cwd = "/nonexistent-dir";
  h = sp.spawn(s);
  ASSERT_FALSE(h.isOk());
  EXPECT_NE(h.status().message().find("chdir"), std::string::npos);
  EXPECT_EQ(sp.spawn(SpawnSpec{}).status().code(), Code::kInvalid);
}

TEST(NoContainerSpawnerTest, RootOnlyWhenAllowed) {
  NoContainerSpawner sp({/*allow_root=*/false});
  SpawnSpec s;
  s.argv = {"/bin/true"};
  s.uid = 0;
  s.gid = 0;
  auto h = sp.spawn(s);
  ASSERT_FALSE(h.isOk());
  EXPECT_EQ(h.status().code(), Code::kForbidden);
  EXPECT_NE(h.status().message().find("allowFunctionsToRunAsRoot"), std::string::npos);
  if (geteuid() == 0) {
    // As root the daemon can drop to another identity.
    s.argv = {"/bin/sh", "-c", "id -u; id -g"};
    s.uid = 65534;
    s.gid = 65534;
    h = sp.spawn(s);
    ASSERT_TRUE(h.isOk()) << h.status().toString();
    std::string out;
    for (auto& p : h->pipes) {
      if (p.level == LogLevel::kInfo) out = readAll(p.fd);
      close(p.fd);
    }
    EXPECT_EQ(waitExit(h->pid), 0);
    EXPECT_EQ(out, "65534\n65534\n");
  }
}

TEST(NoContainerSpawnerTest, GroupRootOnlyWhenAllowed) {
  // RunAs Gid 0 with a non-root uid is as privileged as root for files owned by group root.
  NoContainerSpawner sp({/*allow_root=*/false});
  SpawnSpec s;
  s.argv = {"/bin/true"};
  s.uid = 65534;
  s.gid = 0;
  auto h = sp.spawn(s);
  ASSERT_FALSE(h.isOk());
  EXPECT_EQ(h.status().code(), Code::kForbidden);
  EXPECT_NE(h.status().message().find("gid 0"), std::string::npos) << h.status().message();
}

bool processGone(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  if (all.empty()) return true;
  size_t close_paren = all.rfind(')');
  return close_paren != std::string::npos && all.size() > close_paren + 2 &&
         (all[close_paren + 2] == 'Z' || all[close_paren + 2] == 'X');
}

bool waitGone(pid_t pid, int ms) {
  for (int i = 0; i < ms / 10; ++i) {
    if (processGone(pid)) return true;
    usleep(10000);
  }
  return processGone(pid);
}

// Issue 11 item 8: a worker dies with the process that spawned it (kill -9 of the core).
TEST(NoContainerSpawnerTest, WorkerDiesWithItsParent) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t core = fork();
  ASSERT_GE(core, 0);
  if (core == 0) {
    close(p[0]);
    NoContainerSpawner sp({/*allow_root=*/true});
    SpawnSpec s;
    s.argv = {"/bin/sleep", "30"};
    if (geteuid() == 0) {
      s.uid = 65534;  // the identity change must not clear the parent-death signal
      s.gid = 65534;
    }
    auto h = sp.spawn(s);
    pid_t w = h.isOk() ? h->pid : -1;
    if (write(p[1], &w, sizeof w) != sizeof w) _exit(2);
    pause();  // killed below
    _exit(0);
  }
  close(p[1]);
  pid_t worker = -1;
  ASSERT_EQ(read(p[0], &worker, sizeof worker), static_cast<ssize_t>(sizeof worker));
  close(p[0]);
  ASSERT_GT(worker, 0);
  EXPECT_FALSE(processGone(worker));
  kill(core, SIGKILL);
  waitpid(core, nullptr, 0);
  EXPECT_TRUE(waitGone(worker, 3000)) << "worker " << worker << " outlived its parent";
  if (!processGone(worker)) kill(worker, SIGKILL);
}

// Issue 11 item 3: the token reaches the worker's own environment through the pipe on fd 7 and
// the preloaded library; it is not in the environment the worker was started with
// (/proc/<pid>/environ) and the worker is not dumpable.
TEST(NoContainerSpawnerTest, TokenArrivesInProcessOnlyAndWorkerIsNotDumpable) {
  RuntimePaths paths;
  paths.runtime_dir = std::string(EVG_SOURCE_DIR) + "/runtime";
  std::string lib = tokenLibrary(paths);
  ASSERT_FALSE(lib.empty()) << "libevg_worker_env.so not built";
  functions::FunctionSpec fs;
  fs.arn = "arn:aws:lambda:us-east-1:123456789012:function:f:1";
  fs.code_dir = "/tmp";
  WorkerEnvInputs in;
  in.token = std::string(64, 'a');
  in.token_library = lib;
  auto env = workerEnvironment(fs, in, paths);
  for (const auto& e : env) {
    EXPECT_EQ(e.rfind("AWS_CONTAINER_AUTHORIZATION_TOKEN=", 0), std::string::npos) << e;
  }
  int tok[2];
  ASSERT_EQ(pipe2(tok, O_CLOEXEC), 0);
  std::string line = in.token + "\n";
  ASSERT_EQ(write(tok[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
  close(tok[1]);
  NoContainerSpawner sp({/*allow_root=*/true});
  SpawnSpec s;
  s.argv = {"/usr/bin/python3", "-c",
            "import ctypes, os, sys\n"
            "env = open('/proc/self/environ', 'rb').read()\n"
            "print(os.environ.get('AWS_CONTAINER_AUTHORIZATION_TOKEN'))\n"
            "print(b'AWS_CONTAINER_AUTHORIZATION_TOKEN' in env, 'EVERGREEN_TOKEN_FD' in os.environ,"
            " 'LD_PRELOAD' in os.environ)\n"
            "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))\n"};  // PR_GET_DUMPABLE
  s.env = env;
  s.token_fd = tok[0];
  auto h = sp.spawn(s);
  close(tok[0]);
  ASSERT_TRUE(h.isOk()) << h.status().toString();
  std::string out, err;
  for (auto& p : h->pipes) {
    if (p.level == LogLevel::kInfo) out = readAll(p.fd);
    if (p.level == LogLevel::kError) err = readAll(p.fd);
    close(p.fd);
  }
  EXPECT_EQ(waitExit(h->pid), 0) << err;
  EXPECT_EQ(out, in.token + "\nFalse False False\n0\n") << err;
}

TEST(WorkerRegistryTest, SweepKillsRecordedLeftoversOnly) {
  auto dir = std::filesystem::temp_directory_path() / ("evg_reg_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  auto spawnSleep = [] {
    pid_t c = fork();
    if (c == 0) {
      setsid();
      execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
      _exit(127);
    }
    return c;
  };
  pid_t a = spawnSleep(), b = spawnSleep();
  {
    WorkerRegistry first(dir.string(), Log());
    EXPECT_EQ(first.sweep(), 0u);
    usleep(20000);  // exec done: the start time does not change across execve anyway
    first.add(a);
    first.add(b);
    first.remove(b);  // reaped normally: forgotten
  }
  // A stale record (a recycled pid: wrong start time) must not kill anyone.
  { std::ofstream(dir / std::to_string(getpid())) << "x 1\n"; }
  WorkerRegistry second(dir.string(), Log());
  EXPECT_EQ(second.sweep(), 1u);
  int st = 0;
  ASSERT_EQ(waitpid(a, &st, 0), a);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  EXPECT_FALSE(processGone(b));
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  kill(b, SIGKILL);
  waitpid(b, &st, 0);
  std::filesystem::remove_all(dir);
}

TEST(RuntimeCommandTest, PythonResolvesOthersUnsupported) {
  char tmpl[] = "/tmp/evg_rt_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::filesystem::create_directories(dir + "/python");
  std::ofstream(dir + "/python/lambda_runtime.py") << "";
  RuntimePaths paths;
  paths.runtime_dir = dir;
  paths.python_dir = dir + "/bin";  // no versioned interpreters there
  paths.python27 = dir + "/bin/python2.7";
  functions::FunctionSpec spec;
  spec.arn = "arn:aws:lambda:r:1:function:f:1";
  spec.runtime = "python3.8";
  spec.handler = "app.handler";
  auto cmd = workerCommand(spec, paths);
  ASSERT_TRUE(cmd.isOk()) << cmd.status().toString();
  EXPECT_EQ(*cmd,
            (std::vector<std::string>{"/usr/bin/python3", "-u", dir + "/python/lambda_runtime.py",
                                      "--handler=app.handler"}));
  // No Python 2 on this host: refused naming the function, never a silent python3.
  spec.runtime = "python2.7";
  auto py2 = workerCommand(spec, paths);
  EXPECT_EQ(py2.status().code(), Code::kUnsupported);
  EXPECT_NE(py2.status().message().find(spec.arn), std::string::npos);
  EXPECT_NE(py2.status().message().find("python2.7"), std::string::npos);
  spec.runtime = "ruby2.7";
  auto bad = workerCommand(spec, paths);
  EXPECT_EQ(bad.status().code(), Code::kUnsupported);
  EXPECT_NE(bad.status().message().find("ruby2.7"), std::string::npos);
  spec.runtime = "python3.8";
  paths.runtime_dir = dir + "/missing";
  EXPECT_EQ(workerCommand(spec, paths).status().code(), Code::kNotFound);
  std::filesystem::remove_all(dir);
}

TEST(RuntimeCommandTest, PythonInterpreterChosenPerRuntimeIdFromWhatIsInstalled) {
  char tmpl[] = "/tmp/evg_rt_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::filesystem::create_directories(dir + "/bin");
  auto fake = [&](const std::string& name) {
    std::string p = dir + "/bin/" + name;
    std::ofstream(p) << "#!/bin/sh\n";
    chmod(p.c_str(), 0755);
    return p;
  };
  std::string py37 = fake("python3.7"), py27 = fake("python2.7"), custom = fake("mypython");
  std::filesystem::create_directories(dir + "/python");
  std::ofstream(dir + "/python/lambda_runtime.py") << "";
  RuntimePaths paths;
  paths.runtime_dir = dir;
  paths.python_dir = dir + "/bin";
  paths.python3 = "/usr/bin/python3";
  paths.python27 = dir + "/bin/python2.7";
  functions::FunctionSpec spec;
  spec.arn = "arn:aws:lambda:r:1:function:f:1";
  spec.handler = "app.handler";
  spec.runtime = "python3.7";  // installed: its own interpreter, no note
  auto in = pythonInterpreter(spec, paths);
  ASSERT_TRUE(in.isOk()) << in.status().toString();
  EXPECT_EQ(in->path, py37);
  EXPECT_EQ(in->note, "");
  spec.runtime = "python3.8";  // not installed: python3 with a note naming both
  in = pythonInterpreter(spec, paths);
  ASSERT_TRUE(in.isOk());
  EXPECT_EQ(in->path, "/usr/bin/python3");
  EXPECT_NE(in->note.find("python3.8 is not installed"), std::string::npos) << in->note;
  EXPECT_NE(describeRuntime(spec, paths).find("python3.8 -> /usr/bin/python3"), std::string::npos);
  spec.runtime = "python2.7";  // installed here
  EXPECT_EQ(pythonInterpreter(spec, paths)->path, py27);
  // config.json evergreen.runtime.interpreters wins; a missing one is an error naming it.
  paths.interpreters["python3.8"] = custom;
  spec.runtime = "python3.8";
  EXPECT_EQ(pythonInterpreter(spec, paths)->path, custom);
  paths.interpreters["python3.8"] = dir + "/bin/absent";
  auto bad = pythonInterpreter(spec, paths);
  EXPECT_EQ(bad.status().code(), Code::kNotFound);
  EXPECT_NE(bad.status().message().find(dir + "/bin/absent"), std::string::npos);
  // FunctionRuntimeOverride naming an interpreter.
  spec.runtime = py37;
  EXPECT_EQ(pythonInterpreter(spec, paths)->path, py37);
  spec.runtime = dir + "/bin/ruby";
  EXPECT_EQ(pythonInterpreter(spec, paths).status().code(), Code::kUnsupported);
  std::filesystem::remove_all(dir);
}

TEST(RuntimeCommandTest, NodeRuntimeIdsMapToNodeWithTheRuntimeScript) {
  EXPECT_TRUE(isNodeRuntime("nodejs6.10"));
  EXPECT_TRUE(isNodeRuntime("nodejs8.10"));
  EXPECT_TRUE(isNodeRuntime("nodejs12.x"));
  EXPECT_TRUE(isNodeRuntime("nodejs20.x"));
  EXPECT_FALSE(isNodeRuntime("nodejs"));
  EXPECT_FALSE(isNodeRuntime("nodejs12"));
  EXPECT_FALSE(isNodeRuntime("nodejs12.y"));
  EXPECT_FALSE(isNodeRuntime("nodejsx.x"));
  EXPECT_FALSE(isNodeRuntime("python3.8"));
  char tmpl[] = "/tmp/evg_rt_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::filesystem::create_directories(dir + "/nodejs");
  std::ofstream(dir + "/nodejs/lambda_nodejs_runtime.js") << "";
  RuntimePaths paths;
  paths.runtime_dir = dir;
  paths.node = "/bin/sh";  // any executable stands in for node
  functions::FunctionSpec spec;
  spec.arn = "arn:aws:lambda:r:1:function:f:1";
  spec.handler = "index.handler";
  for (const char* id : {"nodejs6.10", "nodejs8.10", "nodejs12.x", "nodejs18.x"}) {
    spec.runtime = id;
    auto cmd = workerCommand(spec, paths);
    ASSERT_TRUE(cmd.isOk()) << id << ": " << cmd.status().toString();
    EXPECT_EQ(*cmd, (std::vector<std::string>{"/bin/sh", dir + "/nodejs/lambda_nodejs_runtime.js",
                                              "--handler=index.handler"}));
  }
  // FunctionRuntimeOverride naming a node binary by absolute path.
  spec.runtime = "/nonexistent/node18";
  EXPECT_EQ(workerCommand(spec, paths).status().code(), Code::kNotFound);
  // Without an explicit binary, node comes from PATH (the build machine has one, or NotFound).
  paths.node.clear();
  spec.runtime = "nodejs12.x";
  auto from_path = workerCommand(spec, paths);
  if (from_path.isOk()) {
    EXPECT_NE((*from_path)[0].find("node"), std::string::npos);
  } else {
    EXPECT_EQ(from_path.status().code(), Code::kNotFound);
  }
  spec.handler.clear();
  EXPECT_EQ(workerCommand(spec, paths).status().code(), Code::kInvalid);
  spec.handler = "index.handler";
  paths.runtime_dir = dir + "/missing";
  paths.node = "/bin/sh";
  auto missing = workerCommand(spec, paths);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("lambda_nodejs_runtime.js"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(RuntimeCommandTest, JavaRuntimeIdsMapToTheJvmWithRuntimeJarsAroundTheCode) {
  EXPECT_TRUE(isJavaRuntime("java8"));
  EXPECT_TRUE(isJavaRuntime("java11"));
  EXPECT_TRUE(isJavaRuntime("java17"));
  EXPECT_TRUE(isJavaRuntime("java8.al2"));
  EXPECT_FALSE(isJavaRuntime("java"));
  EXPECT_FALSE(isJavaRuntime("javascript"));
  EXPECT_FALSE(isJavaRuntime("java8.x"));
  char tmpl[] = "/tmp/evg_rt_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::filesystem::create_directories(dir + "/java");
  std::ofstream(dir + "/java/evergreen-lambda-runtime.jar") << "";
  RuntimePaths paths;
  paths.runtime_dir = dir;
  paths.java = "/bin/sh";  // any executable stands in for java
  functions::FunctionSpec spec;
  spec.arn = "arn:aws:lambda:r:1:function:f:1";
  spec.handler = "com.example.Hello::handle";
  spec.code_dir = "/code";
  for (const char* id : {"java8", "java11", "java17"}) {
    spec.runtime = id;
    auto cmd = workerCommand(spec, paths);
    ASSERT_TRUE(cmd.isOk()) << id << ": " << cmd.status().toString();
    const std::string jars = dir + "/java/";
    EXPECT_EQ(*cmd, (std::vector<std::string>{
                        "/bin/sh", "-XX:+UseSerialGC", "-Xshare:auto", "-XX:TieredStopAtLevel=1",
                        "-XX:-UsePerfData", "-cp",
                        jars + "evergreen-lambda-runtime.jar:/code:/code/lib/*:/code/*:" + jars +
                            "evergreen-java-sdk.jar",
                        "com.amazonaws.greengrass.runtime.LambdaRuntime",
                        "--handler=com.example.Hello::handle"}));
  }
  // The runtime jar's AppCDS archive beside it is passed on (the JVM checks that it matches).
  std::ofstream(dir + "/java/evergreen-lambda-runtime.jsa") << "";
  spec.runtime = "java11";
  auto with_cds = workerCommand(spec, paths);
  ASSERT_TRUE(with_cds.isOk());
  ASSERT_EQ(with_cds->size(), 11u);
  EXPECT_EQ((*with_cds)[5], "-XX:SharedArchiveFile=" + dir + "/java/evergreen-lambda-runtime.jsa");
  EXPECT_EQ((*with_cds)[6], "-Xlog:cds=off,cds+dynamic=off");
  EXPECT_EQ((*with_cds)[7], "-cp");
  paths.java = "/nonexistent/java";
  auto no_jvm = workerCommand(spec, paths);
  EXPECT_EQ(no_jvm.status().code(), Code::kNotFound);
  EXPECT_NE(no_jvm.status().message().find("/nonexistent/java"), std::string::npos);
  paths.java = "/bin/sh";
  spec.handler.clear();
  EXPECT_EQ(workerCommand(spec, paths).status().code(), Code::kInvalid);
  std::filesystem::remove_all(dir);
}

TEST(RuntimeCommandTest, EnvironmentHasReservedVariablesThatWin) {
  functions::FunctionSpec spec;
  spec.arn = "arn:aws:lambda:r:1:function:f:1";
  spec.code_dir = "/code";
  spec.encoding = functions::Encoding::kBinary;
  spec.timeout_ms = 2500;
  spec.memory_kb = 32768;
  spec.env = {{"MY_FUNCTION_ARN", "spoof"}, {"USER_VAR", "x"}};
  WorkerEnvInputs in;
  in.token = "tok";
  in.ipc_port = 8123;
  in.region = "eu-west-1";
  in.thing_name = "Core";
  RuntimePaths paths;
  paths.runtime_dir = "/rt";
  auto env = workerEnvironment(spec, in, paths);
  auto has = [&](const std::string& kv) {
    return std::find(env.begin(), env.end(), kv) != env.end();
  };
  EXPECT_TRUE(has("MY_FUNCTION_ARN=arn:aws:lambda:r:1:function:f:1"));
  EXPECT_FALSE(has("MY_FUNCTION_ARN=spoof"));
  EXPECT_TRUE(has("USER_VAR=x"));
  EXPECT_TRUE(has("AWS_CONTAINER_AUTHORIZATION_TOKEN=tok"));
  EXPECT_TRUE(has("GG_DAEMON_PORT=8123"));
  EXPECT_TRUE(has(
      "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:8123/2016-11-01/credentialprovider/"));
  EXPECT_TRUE(has("ENCODING_TYPE=binary"));
  EXPECT_TRUE(has("GGC_MAX_INTERFACE_VERSION=1.5"));
  EXPECT_TRUE(has("ROUTER_FUNCTION_ARN=arn:aws:lambda:::function:GGRouter"));
  EXPECT_TRUE(has("SECRETS_MANAGER_FUNCTION_ARN=arn:aws:lambda:::function:GGSecretManager:1"));
  EXPECT_TRUE(has("SHADOW_FUNCTION_ARN=arn:aws:lambda:::function:GGShadowService"));
  EXPECT_TRUE(has("_GG_LOG_FD_INFO=1"));
  EXPECT_TRUE(has("_GG_LOG_FD_ERROR=2"));
  EXPECT_TRUE(has("_GG_LOG_FD_TRACE=6"));
  EXPECT_TRUE(has("AWS_REGION=eu-west-1"));
  EXPECT_TRUE(has("AWS_DEFAULT_REGION=eu-west-1"));
  EXPECT_TRUE(has("AWS_IOT_THING_NAME=Core"));
  EXPECT_TRUE(has("EVERGREEN_FUNCTION_TIMEOUT_MS=2500"));
  EXPECT_TRUE(has("EVERGREEN_MEMORY_LIMIT_MB=32"));
  EXPECT_TRUE(has("PYTHONPATH=/code:/rt/python/lib"));
  EXPECT_TRUE(has("NODE_PATH=/code:/rt/nodejs/node_modules"));
}

TEST(BackoffTest, ExponentialCappedWithCrashLoopAndReset) {
  Backoff b({100, 1000, 3, 5000});
  EXPECT_EQ(b.onFailure(10, false), 100u);
  EXPECT_EQ(b.onFailure(10, false), 200u);
  EXPECT_FALSE(b.crashLoop());
  EXPECT_EQ(b.onFailure(10, false), 400u);
  EXPECT_TRUE(b.crashLoop());
  EXPECT_EQ(b.onFailure(10, false), 800u);
  EXPECT_EQ(b.onFailure(10, false), 1000u);
  EXPECT_EQ(b.onFailure(10, false), 1000u);
  // A worker that lived long enough (or did work) starts the count again.
  EXPECT_EQ(b.onFailure(6000, false), 100u);
  EXPECT_EQ(b.onFailure(10, true), 100u);
  b.onSuccess();
  EXPECT_EQ(b.failures(), 0u);
}

TEST(LogPipeTest, FormatsV1LinesIntoRotatingFile) {
  EXPECT_EQ(formatUserLogLine("2019-07-01T15:57:59.286+05:30", LogLevel::kInfo,
                              "lambda_runtime.py:114,Running"),
            "[2019-07-01T15:57:59.286+05:30][INFO]-lambda_runtime.py:114,Running\n");
  EXPECT_EQ(userLogPath("/gg", "us-east-1", "123", "f"), "/gg/var/log/user/us-east-1/123/f.log");

  char tmpl[] = "/tmp/evg_log_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto file = std::make_shared<RotatingFile>(dir + "/f.log", 1 << 20, 1);
  boost::asio::io_context io;
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  auto reader = LogPipeReader::start(io, p[0], LogLevel::kWarn, file, 8);
  std::string data = "app.py:3,first\r\nsecond line is long\nlast-no-newline";
  ASSERT_EQ(write(p[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  close(p[1]);
  io.run();
  file->flush();
  std::ifstream in(dir + "/f.log");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l.substr(l.find("]-") + 2));
  EXPECT_EQ(lines, (std::vector<std::string>{"app.py:3", ",first", "second l", "ine is l", "ong",
                                             "last-no-", "newline"}));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace evg::supervisor
