#include "supervisor/runtime_command.h"

#include <unistd.h>

#include <cstdlib>

#include "supervisor/executable_runtime.h"
#include "supervisor/worker_spawner.h"

namespace evg::supervisor {

Result<std::vector<std::string>> workerCommand(const functions::FunctionSpec& spec,
                                               const RuntimePaths& paths) {
  const std::string& r = spec.runtime;
  if (isExecutableRuntime(r)) return executableCommand(spec, paths);
  std::string python;
  if (r == "python2.7") {
    python = access(paths.python27.c_str(), X_OK) == 0 ? paths.python27 : paths.python3;
  } else if (r.rfind("python3.", 0) == 0 && r.size() > 8) {
    python = paths.python3;
  } else {
    return Status::unsupported("runtime \"" + r + "\" of " + spec.arn +
                               " is not supported yet (only python2.7 and python3.x)");
  }
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
  env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = in.token;
  env["MY_FUNCTION_ARN"] = spec.arn;
  env["SHADOW_FUNCTION_ARN"] = "arn:aws:lambda:::function:GGShadowService";
  env["ROUTER_FUNCTION_ARN"] = "arn:aws:lambda:::function:GGRouter";
  env["SECRETS_MANAGER_FUNCTION_ARN"] = "arn:aws:lambda:::function:GGSecretManager:1";
  env["GG_DAEMON_PORT"] = std::to_string(in.ipc_port);
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
  env["EVERGREEN_FUNCTION_TIMEOUT_MS"] = std::to_string(spec.timeout_ms);
  env["EVERGREEN_MEMORY_LIMIT_MB"] = std::to_string(spec.memory_kb / 1024);
  env["PYTHONPATH"] = spec.code_dir + ":" + paths.runtime_dir + "/python/lib";
  addExecutableEnvironment(spec, paths, env);  // LD_LIBRARY_PATH for C executables
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace evg::supervisor
