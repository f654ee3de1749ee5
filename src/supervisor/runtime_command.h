#pragma once
// Runtime resolution and the worker environment (reference ggv1-protocol.md §1.2, §2.4).

#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "functions/function_spec.h"

namespace evg::supervisor {

struct RuntimePaths {
  std::string runtime_dir;  // holds python/lambda_runtime.py and python/lib/
  std::string python3 = "/usr/bin/python3";
  std::string python27 = "/usr/bin/python2.7";  // used for python2.7 when it exists
  std::string node;  // node >= 12 for nodejs* runtimes; empty: `node` (then `nodejs`) on PATH
  // Java (java8, java11, ...): the JVM, and the directory holding evergreen-lambda-runtime.jar and
  // evergreen-java-sdk.jar (empty: <runtime_dir>/java, then the build tree's runtime/java).
  std::string java = "/usr/bin/java";
  std::string java_dir;
  // libevg_worker_env.so (token passing); empty: <runtime_dir>/preload, then the build tree's.
  std::string token_library;
  // Where versioned Python interpreters are looked up (python3.7 -> <python_dir>/python3.7).
  // Never PATH: the `python3` first on PATH may be a pyenv shim without the system packages.
  std::string python_dir = "/usr/bin";
  // config.json evergreen.runtime.interpreters: runtime id -> interpreter, wins over the above.
  std::map<std::string, std::string> interpreters;
};

// The token library to LD_PRELOAD into workers, or "" when none is installed (then the token
// travels in the environment, readable through /proc by processes of the same uid).
std::string tokenLibrary(const RuntimePaths& paths);

// The interpreter serving a Python function, and a note when it is not the runtime's own
// version. Order: evergreen.runtime.interpreters[runtime]; a FunctionRuntimeOverride naming an
// interpreter (absolute path, file name python*); python3.N -> <python_dir>/python3.N when
// installed, else `python3` (note: "python3.7 is not installed: served by /usr/bin/python3
// (python3.11)"); python2.7 -> `python27` when installed, else Status::unsupported naming the
// function (no silent Python 3 substitute). Other ids: Status::unsupported.
struct Interpreter {
  std::string path;
  std::string note;  // empty for an exact match
};
bool isPythonRuntime(const std::string& runtime);
Result<Interpreter> pythonInterpreter(const functions::FunctionSpec& spec,
                                      const RuntimePaths& paths);

// What serves `spec`, for the deployment log: "python3.8 -> /usr/bin/python3.8",
// "nodejs12.x -> /usr/bin/node", ... plus the interpreter note when there is one.
std::string describeRuntime(const functions::FunctionSpec& spec, const RuntimePaths& paths);

// The checks FunctionHost::deploy makes before changing anything (also run for a staged
// deployment): versioned or aliased ARN, no duplicate, code directory present, a worker command
// (runtime supported, interpreter and runtime files present), non-zero timeout.
Status validateSpecs(const std::vector<functions::FunctionSpec>& specs, const RuntimePaths& paths);

// True for the v1 Java runtime ids: java8 and later majors (java11, java17, java8.al2, ...).
bool isJavaRuntime(const std::string& runtime);

// argv of a Java worker: <java> -XX:+UseSerialGC -Xshare:auto -XX:TieredStopAtLevel=1
// -XX:-UsePerfData [-XX:SharedArchiveFile=<runtime jar dir>/evergreen-lambda-runtime.jsa
// -Xlog:cds=off,cds+dynamic=off: when that AppCDS archive exists]
// -cp <runtime jar>:<code>:<code>/lib/*:<code>/*:<java SDK jar>
// com.amazonaws.greengrass.runtime.LambdaRuntime --handler=<package.Class::method>.
Result<std::vector<std::string>> javaWorkerCommand(const functions::FunctionSpec& spec,
                                                   const RuntimePaths& paths);

// True for the v1 Node runtime ids: nodejs6.10, nodejs8.10, nodejs12.x and later (nodejsN.x).
bool isNodeRuntime(const std::string& runtime);

// argv for a worker of `spec`: python* -> <pythonInterpreter> -u
// <runtime_dir>/python/lambda_runtime.py --handler=<h>; nodejs* (isNodeRuntime, or an
// absolute path to a node binary given as FunctionRuntimeOverride) -> <node>
// <runtime_dir>/nodejs/lambda_nodejs_runtime.js --handler=<h>. Other runtimes:
// Status::unsupported naming the runtime. Status::notFound when the runtime file is missing.
Result<std::vector<std::string>> workerCommand(const functions::FunctionSpec& spec,
                                               const RuntimePaths& paths);

// Standby (pre-warmed) workers: the runtimes that can start ahead of their first invocation and
// wait on stdin for the host's start byte (Python, Node.js, Java; not executables). The argument
// appended to such a worker's argv (each runtime removes it before user code can see it).
bool supportsStandby(const functions::FunctionSpec& spec);
inline constexpr const char* kStandbyArg = "--standby";

struct WorkerEnvInputs {
  std::string token;
  // Non-empty: the token is NOT put into the environment; instead LD_PRELOAD=<token_library>
  // (before the function's own LD_PRELOAD) and EVERGREEN_TOKEN_FD=7: the library reads the token
  // from the pipe the spawner puts on fd 7 (SpawnSpec::token_fd).
  std::string token_library;
  uint16_t ipc_port = 8000;
  std::string region, thing_name;
  std::string log_level = "INFO";
  uint16_t stream_manager_port = 8088;
  std::map<std::string, std::string> extra;  // host-wide additions (proxies, ...)
};

// The complete environment ("K=V") of a worker: the function's Variables first, then the host's
// `extra`, then the reserved v1 variables, which always win (MY_FUNCTION_ARN,
// AWS_CONTAINER_AUTHORIZATION_TOKEN, GG_DAEMON_PORT, AWS_CONTAINER_CREDENTIALS_FULL_URI
// (http://127.0.0.1:<port>/2016-11-01/credentialprovider/), *_FUNCTION_ARN, ENCODING_TYPE,
// GGC_MAX_INTERFACE_VERSION=1.5, LOG_LEVEL, _GG_LOG_FD_*, AWS_REGION, AWS_IOT_THING_NAME,
// EVERGREEN_FUNCTION_TIMEOUT_MS, EVERGREEN_MEMORY_LIMIT_MB, PYTHONPATH, ...).
std::vector<std::string> workerEnvironment(const functions::FunctionSpec& spec,
                                           const WorkerEnvInputs& in, const RuntimePaths& paths);

}  // namespace evg::supervisor
