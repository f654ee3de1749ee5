#include "supervisor/runtime_command.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "functions/arn.h"
#include "supervisor/executable_runtime.h"
#include "supervisor/worker_spawner.h"

namespace evg::supervisor {

bool isNodeRuntime(const std::string& runtime) {
  // nodejs<major>.<minor|x>: nodejs6.10, nodejs8.10, nodejs12.x, nodejs14.x, ...
  const std::string prefix = "nodejs";
  if (runtime.rfind(prefix, 0) != 0) return false;
  size_t i = prefix.size(), digits = 0;
  while (i < runtime.size() && std::isdigit(static_cast<unsigned char>(runtime[i]))) ++i, ++digits;
  if (digits == 0 || i >= runtime.size() || runtime[i] != '.') return false;
  std::string rest = runtime.substr(i + 1);
  if (rest == "x") return true;
  return !rest.empty() && std::all_of(rest.begin(), rest.end(),
                                      [](unsigned char c) { return std::isdigit(c) != 0; });
}

namespace {

// First executable `name` on PATH (the daemon's), or "".
std::string findOnPath(const std::string& name) {
  const char* path = getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (!dir.empty()) {
      std::string candidate = dir + "/" + name;
      if (access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    start = end + 1;
  }
  return "";
}

// The runtime as one file (runtime/nodejs/make_bundle.py) when it is there: beside the script
// (installed tree), or the build tree's when <dir> is the source it was made from and it is not
// older than the main script (a stale bundle would run old code). Else the script itself.
std::string nodeBundle(const std::string& dir, const std::string& script) {
  std::string installed = dir + "/lambda_nodejs_runtime.bundle.js";
  if (access(installed.c_str(), R_OK) == 0) return installed;
#if defined(EVG_BUILD_NODE_BUNDLE) && defined(EVG_SOURCE_NODE_RUNTIME_DIR)
  std::error_code ec;
  namespace fs = std::filesystem;
  if (fs::equivalent(dir, EVG_SOURCE_NODE_RUNTIME_DIR, ec) && !ec &&
      access(EVG_BUILD_NODE_BUNDLE, R_OK) == 0) {
    auto built = fs::last_write_time(EVG_BUILD_NODE_BUNDLE, ec);
    auto source = fs::last_write_time(script, ec);
    if (!ec && built >= source) return EVG_BUILD_NODE_BUNDLE;
  }
#endif
  return script;
}

Result<std::vector<std::string>> nodeCommand(const functions::FunctionSpec& spec,
                                             const RuntimePaths& paths) {
  if (spec.handler.empty()) return Status::invalid("function " + spec.arn + " has no handler");
  std::string node = paths.node;
  if (!spec.runtime.empty() && spec.runtime[0] == '/') node = spec.runtime;  // override: a binary
  if (node.empty()) node = findOnPath("node");
  if (node.empty()) node = findOnPath("nodejs");
  if (node.empty()) {
    return Status::notFound("runtime \"" + spec.runtime + "\" of " + spec.arn +
                            " needs Node.js >= 12, but no node or nodejs is on PATH");
  }
  std::string script = paths.runtime_dir + "/nodejs/lambda_nodejs_runtime.js";
  if (access(script.c_str(), R_OK) != 0) {
    return Status::notFound("Node.js runtime not found: " + script);
  }
  if (access(node.c_str(), X_OK) != 0) {
    return Status::notFound("Node.js interpreter not found: " + node);
  }
  return std::vector<std::string>{node, nodeBundle(paths.runtime_dir + "/nodejs", script),
                                  "--handler=" + spec.handler};
}

}  // namespace

bool isJavaRuntime(const std::string& runtime) {
  // java8, java11, java17, java8.al2, ...
  if (runtime.rfind("java", 0) != 0) return false;
  size_t i = 4;
  while (i < runtime.size() && runtime[i] >= '0' && runtime[i] <= '9') ++i;
  if (i == 4) return false;
  return i == runtime.size() || runtime.substr(i) == ".al2";
}

Result<std::vector<std::string>> javaWorkerCommand(const functions::FunctionSpec& spec,
                                                   const RuntimePaths& paths) {
  if (spec.handler.empty()) return Status::invalid("function " + spec.arn + " has no handler");
  static const char* const kRuntimeJar = "evergreen-lambda-runtime.jar";
  std::vector<std::string> dirs;
  if (!paths.java_dir.empty()) dirs.push_back(paths.java_dir);
  dirs.push_back(paths.runtime_dir + "/java");
#ifdef EVG_BUILD_JAVA_RUNTIME_DIR
  dirs.push_back(EVG_BUILD_JAVA_RUNTIME_DIR);  // running from the build tree
#endif
  std::string dir;
  for (const auto& d : dirs) {
    if (access((d + "/" + kRuntimeJar).c_str(), R_OK) == 0) {
      dir = d;
      break;
    }
  }
  if (dir.empty()) {
    return Status::notFound("Java runtime not found: " + dirs.front() + "/" + kRuntimeJar +
                            " (build the evg_java_runtime target)");
  }
  if (access(paths.java.c_str(), X_OK) != 0) {
    return Status::notFound("runtime \"" + spec.runtime + "\" of " + spec.arn +
                            " needs a Java runtime, but " + paths.java + " is not executable");
  }
  const std::string& code = spec.code_dir;
  std::string cp = dir + "/" + kRuntimeJar + ":" + code + ":" + code + "/lib/*:" + code +
                   "/*:" + dir + "/evergreen-java-sdk.jar";
  std::vector<std::string> argv{paths.java, "-XX:+UseSerialGC", "-Xshare:auto",
                                "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData"};
  // The runtime jar's AppCDS archive (runtime/java/CMakeLists.txt, postinst): used when it sits
  // beside the jar; the JVM ignores it silently (-Xlog:...=off) when it doesn't match this jar
  // and JDK, e.g. under a /proc/self/fd path (dir_access.h) — then the start is only slower.
  std::string cds = dir + "/evergreen-lambda-runtime.jsa";
  if (access(cds.c_str(), R_OK) == 0) {
    argv.push_back("-XX:SharedArchiveFile=" + cds);
    argv.push_back("-Xlog:cds=off,cds+dynamic=off");
  }
  for (std::string a :
       {std::string("-cp"), cp, std::string("com.amazonaws.greengrass.runtime.LambdaRuntime"),
        "--handler=" + spec.handler}) {
    argv.push_back(std::move(a));
  }
  return argv;
}

std::string tokenLibrary(const RuntimePaths& paths) {
  static const char* const kName = "libevg_worker_env.so";
  if (!paths.token_library.empty()) {
    return access(paths.token_library.c_str(), R_OK) == 0 ? paths.token_library : "";
  }
  std::vector<std::string> dirs = {paths.runtime_dir + "/preload"};
#ifdef EVG_BUILD_PRELOAD_DIR
  dirs.push_back(EVG_BUILD_PRELOAD_DIR);  // running from the build tree
#endif
  for (const auto& d : dirs) {
    std::string f = d + "/" + kName;
    if (access(f.c_str(), R_OK) == 0) return f;
  }
  return "";
}

Result<std::vector<std::string>> workerCommand(const functions::FunctionSpec& spec,
                                               const RuntimePaths& paths) {
  const std::string& r = spec.runtime;
  if (isJavaRuntime(r)) return javaWorkerCommand(spec, paths);
  if (isExecutableRuntime(r)) return executableCommand(spec, paths);
  if (isNodeRuntime(r) ||
      (!r.empty() && r[0] == '/' && r.substr(r.rfind('/') + 1).rfind("node", 0) == 0)) {
    return nodeCommand(spec, paths);
  }
  auto interp = pythonInterpreter(spec, paths);
  if (!interp) return interp.status();
  const std::string& python = interp->path;
  if (spec.handler.empty()) return Status::invalid("function " + spec.arn + " has no handler");
  std::string script = paths.runtime_dir + "/python/lambda_runtime.py";
  if (access(script.c_str(), R_OK) != 0) {
    return Status::notFound("Python runtime not found: " + script);
  }
  if (access(python.c_str(), X_OK) != 0) {
    return Status::notFound("Python interpreter not found: " + python);
  }
  return std::vector<std::string>{python, "-u", script, "--handler=" + spec.handler};
}

bool supportsStandby(const functions::FunctionSpec& spec) {
  return !isExecutableRuntime(spec.runtime);
}

bool isPythonRuntime(const std::string& r) {
  if (r == "python2.7") return true;
  if (r.rfind("python3.", 0) == 0 && r.size() > 8) {
    return std::all_of(r.begin() + 8, r.end(),
                       [](unsigned char c) { return std::isdigit(c) != 0; });
  }
  if (!r.empty() && r[0] == '/') {
    return std::filesystem::path(r).filename().string().rfind("python", 0) == 0;
  }
  return false;
}

Result<Interpreter> pythonInterpreter(const functions::FunctionSpec& spec,
                                      const RuntimePaths& paths) {
  const std::string& r = spec.runtime;
  auto executable = [](const std::string& p) { return access(p.c_str(), X_OK) == 0; };
  if (auto it = paths.interpreters.find(r); it != paths.interpreters.end()) {
    if (!executable(it->second)) {
      return Status::notFound("function " + spec.arn + ": interpreter " + it->second +
                              " configured for runtime " + r +
                              " (evergreen.runtime.interpreters) is not executable");
    }
    return Interpreter{it->second, ""};
  }
  if (!r.empty() && r[0] == '/') {
    if (!isPythonRuntime(r)) {
      return Status::unsupported("function " + spec.arn + ": FunctionRuntimeOverride " + r +
                                 " is not a Python or Node.js interpreter");
    }
    if (!executable(r)) {
      return Status::notFound("function " + spec.arn + ": FunctionRuntimeOverride " + r +
                              " is not executable");
    }
    return Interpreter{r, ""};
  }
  if (r == "python2.7") {
    if (executable(paths.python27)) return Interpreter{paths.python27, ""};
    return Status::unsupported(
        "function " + spec.arn + ": runtime python2.7 needs Python 2.7, which is not installed (" +
        paths.python27 +
        "); install it, map python2.7 to an interpreter in evergreen.runtime.interpreters, or "
        "publish the function with a python3.x runtime");
  }
  if (!isPythonRuntime(r)) {
    return Status::unsupported("runtime \"" + r + "\" of " + spec.arn +
                               " is not supported (python2.7, python3.x, nodejs*, java*, "
                               "arn:aws:greengrass:::runtime/function/executable)");
  }
  std::string exact = paths.python_dir + "/" + r;
  if (executable(exact)) return Interpreter{exact, ""};
  if (!executable(paths.python3)) {
    return Status::notFound("function " + spec.arn + ": runtime " + r + " needs " + exact + " or " +
                            paths.python3 + ", neither is installed");
  }
  std::error_code ec;
  std::string actual = std::filesystem::canonical(paths.python3, ec).filename().string();
  return Interpreter{paths.python3, r + " is not installed: served by " + paths.python3 +
                                        (ec || actual.empty() ? "" : " (" + actual + ")")};
}

std::string describeRuntime(const functions::FunctionSpec& spec, const RuntimePaths& paths) {
  auto cmd = workerCommand(spec, paths);
  std::string out = spec.runtime + " -> " + (cmd && !cmd->empty() ? cmd->front() : "?");
  if (isPythonRuntime(spec.runtime)) {
    auto in = pythonInterpreter(spec, paths);
    if (in && !in->note.empty()) out += " (" + in->note + ")";
  }
  return out;
}

Status validateSpecs(const std::vector<functions::FunctionSpec>& specs, const RuntimePaths& paths) {
  std::set<std::string> seen;
  for (const auto& s : specs) {
    auto arn = functions::parseFunctionArn(s.arn);
    if (!arn) return arn.status();
    if (arn->qualifier.empty() || arn->qualifier == functions::kLatest) {
      return Status::invalid("function " + s.arn + " must be deployed as a version or alias");
    }
    if (!seen.insert(s.arn).second) return Status::invalid("function deployed twice: " + s.arn);
    std::error_code ec;
    if (!std::filesystem::is_directory(s.code_dir, ec)) {
      return Status::notFound("code directory of " + s.arn + " not found: " + s.code_dir);
    }
    auto cmd = workerCommand(s, paths);
    if (!cmd) return cmd.status();
    if (s.timeout_ms == 0) return Status::invalid("function " + s.arn + " has a zero timeout");
  }
  return Status::ok();
}

std::vector<std::string> workerEnvironment(const functions::FunctionSpec& spec,
                                           const WorkerEnvInputs& in, const RuntimePaths& paths) {
  std::map<std::string, std::string> env = spec.env;
  for (const auto& [k, v] : in.extra) env[k] = v;
  auto inherit = [&](const char* name, const char* fallback) {
    const char* v = getenv(name);
    if (env.count(name) == 0) env[name] = v != nullptr ? v : fallback;
  };
  inherit("PATH", "/usr/local/bin:/usr/bin:/bin");
  inherit("LANG", "C.UTF-8");
  inherit("HOME", "/tmp");
  if (in.token_library.empty()) {
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = in.token;
  } else {
    env.erase("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    auto own = env.find("LD_PRELOAD");
    env["LD_PRELOAD"] = own != env.end() && !own->second.empty()
                            ? in.token_library + ":" + own->second
                            : in.token_library;
    env["EVERGREEN_TOKEN_FD"] = std::to_string(kTokenFd);
  }
  env["MY_FUNCTION_ARN"] = spec.arn;
  env["SHADOW_FUNCTION_ARN"] = "arn:aws:lambda:::function:GGShadowService";
  env["ROUTER_FUNCTION_ARN"] = "arn:aws:lambda:::function:GGRouter";
  env["SECRETS_MANAGER_FUNCTION_ARN"] = "arn:aws:lambda:::function:GGSecretManager:1";
  env["GG_DAEMON_PORT"] = std::to_string(in.ipc_port);
  // E9 (token exchange): the AWS SDKs' container-credentials provider sends the worker token.
  // 127.0.0.1, not localhost: every SDK allows it and containers share the host's network.
  env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] =
      "http://127.0.0.1:" + std::to_string(in.ipc_port) + "/2016-11-01/credentialprovider/";
  env["ENCODING_TYPE"] = std::string(functions::encodingName(spec.encoding));
  env["GGC_MAX_INTERFACE_VERSION"] = "1.5";
  env["LOG_LEVEL"] = in.log_level;
  for (LogLevel l : {LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                     LogLevel::kError, LogLevel::kFatal}) {
    env["_GG_LOG_FD_" + std::string(logLevelName(l))] = std::to_string(childLogFd(l));
  }
  env["AWS_REGION"] = in.region;
  env["AWS_DEFAULT_REGION"] = in.region;
  env["AWS_IOT_THING_NAME"] = in.thing_name;
  env["STREAM_MANAGER_SERVER_PORT"] = std::to_string(in.stream_manager_port);
  env["AWS_GG_RESOURCE_PREFIX"] = spec.code_dir;
  env["EVERGREEN_CODE_DIR"] = spec.code_dir;  // the Node runtime's code dir (not its cwd's path)
  env["EVERGREEN_FUNCTION_TIMEOUT_MS"] = std::to_string(spec.timeout_ms);
  env["EVERGREEN_MEMORY_LIMIT_MB"] = std::to_string(spec.memory_kb / 1024);
  env["PYTHONPATH"] = spec.code_dir + ":" + paths.runtime_dir + "/python/lib";
  // Node: the function's own modules first; the genuine SDK finds aws-greengrass-common-js and
  // aws-greengrass-ipc-sdk-js (and ours answers aws-greengrass-core-sdk) in the runtime's.
  env["NODE_PATH"] = spec.code_dir + ":" + paths.runtime_dir + "/nodejs/node_modules";
  addExecutableEnvironment(spec, paths, env);  // LD_LIBRARY_PATH for C executables
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace evg::supervisor
