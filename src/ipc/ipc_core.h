#pragma once
// IpcCore: the sans-I/O heart of the Greengrass v1 IPC server (reference: ggv1-protocol.md §1-2).
//
// It owns, per deployed function ARN, a bounded FIFO of work items and the long polls of its
// workers, and per invocation the result an E2 caller waits for. It performs no I/O: the HTTP
// layer feeds parsed requests to handle(); answers are either returned at once or "parked" and
// delivered later through the Responder callback (same thread). The supervisor side is told about
// scheduling points through IpcListener and reports worker lifecycle with add/removeWorker.
//
// Endpoints (all paths under /2016-11-01):
//   E1 POST functions/{arn}              202 + X-Amz-InvocationId (system ARNs handled inline)
//   E2 GET  functions/{arn}              parks until the result; 200, X-Amz-Function-Error ALWAYS
//                                        present ("" / Handled / Unhandled)
//   E3 GET  functions/{arn}/work         parks until work is assigned to *this* worker
//   E4/E5 POST functions/{arn}/work      result / handler error of the worker's invocation
//   E6 PUT  functions/{arn}/initialized  {"Success":bool,"Response":"..."}
//   E7 GET  health/workers, POST health/workers {"FuncArns":[...]}
//   E9 GET  credentialprovider/          AWS credentials for the SDKs (ipc/credential_source.h)
//   Evergreen extension: GET health/functions  per-function queue/drop counters
// Tokens: every function endpoint needs `Authorization: <worker token>`; missing -> 401,
// unknown -> 403. E3-E6 also require the token's function to be the ARN in the path. A publish's
// source is the token's function, never the client-context's custom.source.
//
// Threading: not thread-safe; the owning event loop calls everything, including the callbacks
// it receives. Callbacks may re-enter the core (e.g. onWorkQueued -> addWorker).

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/log.h"
#include "base/memo_cache.h"
#include "base/status.h"
#include "ipc/credential_source.h"
#include "ipc/http_types.h"
#include "ipc/system_services.h"

namespace evg::ipc {

inline constexpr std::string_view kRouterArn = "arn:aws:lambda:::function:GGRouter";
inline constexpr std::string_view kShadowArn = "arn:aws:lambda:::function:GGShadowService";
inline constexpr std::string_view kSecretsArn = "arn:aws:lambda:::function:GGSecretManager:1";
// E9: what AWS_CONTAINER_CREDENTIALS_FULL_URI points at (under http://127.0.0.1:<port>).
inline constexpr std::string_view kCredentialProviderPath = "/2016-11-01/credentialprovider/";

using ParkId = uint64_t;
using WorkerId = uint64_t;

struct IpcOptions {
  size_t max_work_items = 1024;  // default per-function queue bound (runtime.maxWorkItemCount)
  // Payload bytes queued per function (evergreen.runtime.maxWorkQueueBytes): an invocation that
  // would pass it is refused like a full queue (429 / Status::retry naming the bound).
  size_t max_work_bytes = 32 * 1024 * 1024;
  size_t max_retained_results = 4096;  // finished RequestResponse results not yet fetched (E2)
  size_t max_health_workers = 1024;    // E7 POST answer bound
  std::function<int64_t()> now_ms;     // wall clock (ms since epoch); default: system clock
};

struct FunctionRegistration {
  std::string arn;
  uint32_t timeout_ms = 3000;
  size_t max_work_items = 0;  // 0: IpcOptions::max_work_items
};

enum class WorkerState {
  kStarting,
  kInitialized,
  kFailedInitialization,
  kWaiting,
  kWorking,
  kTerminated
};
std::string_view workerStateName(WorkerState s);  // v1 health names: "Starting", "Waiting", ...

struct WorkerInfo {
  WorkerId id = 0;
  std::string arn;
  int pid = 0;
  WorkerState state = WorkerState::kStarting;
};

struct FunctionStats {
  std::string arn;
  size_t queued = 0;
  size_t workers = 0;
  size_t waiting_workers = 0;  // parked on E3
  uint64_t accepted = 0;       // work items accepted
  uint64_t dropped = 0;        // rejected because the queue was full (items or bytes)
  uint64_t dropped_bytes = 0;  // of those: rejected by max_work_bytes
  size_t queued_bytes = 0;     // payload bytes queued now
  uint64_t succeeded = 0;
  uint64_t handled_errors = 0;
  uint64_t unhandled_errors = 0;  // crash/timeout/removal
  uint64_t timeouts = 0;
};

// Scheduling points reported to the host/supervisor. Called synchronously on the loop.
class IpcListener {
 public:
  virtual ~IpcListener() = default;
  // Work was queued for `arn` and no waiting worker took it (scale-up point).
  virtual void onWorkQueued(const std::string& arn, size_t queue_depth) = 0;
  // A worker took an invocation (arm its timeout) / the invocation ended (disarm).
  virtual void onWorkStarted(WorkerId worker, const std::string& invocation_id,
                             uint32_t timeout_ms) = 0;
  virtual void onWorkFinished(WorkerId worker, const std::string& invocation_id) = 0;
  // A worker is parked on E3 with nothing to do (idle point).
  virtual void onWorkerWaiting(WorkerId worker) = 0;
  // E6 from a worker.
  virtual void onWorkerInitialized(WorkerId worker, bool success, const std::string& response) = 0;
  // A function published through GGRouter (Event). Return Status::retry when an AllOrError
  // publish could not reach every target (-> 429); other errors map through toHttpStatus.
  virtual Status onPublish(const std::string& source_arn, const std::string& topic,
                           std::shared_ptr<const std::string> payload,
                           std::string_view queue_full_policy) = 0;
};

class IpcCore {
 public:
  // Delivers the answer to a parked request. Must not be empty when requests can park.
  using Responder = std::function<void(ParkId, HttpResponse)>;

  IpcCore(IpcOptions opts, IpcListener& listener, Log log);
  ~IpcCore();
  IpcCore(const IpcCore&) = delete;
  IpcCore& operator=(const IpcCore&) = delete;

  void setResponder(Responder r) { responder_ = std::move(r); }
  // GGShadowService / GGSecretManager:1 handlers (not owned; must outlive the core or be reset
  // to nullptr). Without them both answer the "not available" errors (shadow 404, secret 404).
  void setSystemServices(SystemServices* s) { services_ = s; }
  // E9 answers (not owned; must outlive the core or be reset to nullptr). Without one E9 answers
  // 503 "no credential provider configured".
  void setCredentialSource(CredentialSource* s) { credentials_ = s; }

  // --- functions ---
  // Adds or updates (timeout, bound) a function. Its queue survives updates.
  void addFunction(const FunctionRegistration& reg);
  // Removes a function: queued RequestResponse callers get Unhandled "function removed".
  // Its workers must be removed by the caller (removeWorker) as they are stopped.
  void removeFunction(const std::string& arn);
  bool hasFunction(const std::string& arn) const;
  // Free queue slots for `arn` (0 when unknown) — lets an AllOrError router check all targets.
  size_t queueSpace(const std::string& arn) const;
  // Queued (not yet running) work items of `arn` (0 when unknown).
  size_t queueDepth(const std::string& arn) const;

  // --- workers ---
  // Registers a spawned worker of `arn` with its secret token. Status::notFound if arn unknown,
  // conflict if the id or token is already in use.
  Status addWorker(WorkerId id, const std::string& arn, const std::string& token, int pid);
  // The worker is gone or being stopped: token revoked, its parked E3 answered 410, its in-flight
  // invocation completed as Unhandled with `reason`. Queued work stays queued.
  void removeWorker(WorkerId id, const std::string& reason);
  // The invocation's timeout fired. If it is still running on `worker`: completes it Unhandled
  // ("Task timed out after N.NN seconds"), revokes the worker (it must be killed) and returns true.
  bool timeoutWork(WorkerId worker, const std::string& invocation_id);
  std::optional<WorkerInfo> worker(WorkerId id) const;
  // The function ARN of a running worker's token (nullopt: unknown or revoked). Lets other local
  // services (the stream manager) authenticate functions with the same tokens.
  std::optional<std::string> functionForToken(const std::string& token) const;
  std::vector<WorkerInfo> workers() const;

  // --- invocations from the host (router -> function) ---
  // Queues an Event invocation; Status::retry when the queue is full, notFound if arn unknown.
  // Returns the invocation id.
  Result<std::string> submitEvent(const std::string& arn,
                                  std::shared_ptr<const std::string> payload,
                                  std::string client_context_b64);

  // --- HTTP ---
  // Answers now, or returns nullopt after parking the request under `park` (the answer then comes
  // through the Responder, exactly once, unless cancel(park) is called first).
  std::optional<HttpResponse> handle(const HttpRequest& req, ParkId park);
  // The connection of a parked request went away.
  void cancel(ParkId park);

  std::vector<FunctionStats> stats() const;

 private:
  struct Invocation;
  struct Function;
  struct Worker;
  struct Park;

  std::optional<HttpResponse> handleInvoke(const HttpRequest& req, const std::string& arn,
                                           ParkId park);
  std::optional<HttpResponse> handleGetResult(const HttpRequest& req, const std::string& arn,
                                              ParkId park);
  std::optional<HttpResponse> handleGetWork(const HttpRequest& req, const std::string& arn,
                                            ParkId park);
  HttpResponse handlePostWork(const HttpRequest& req, const std::string& arn);
  HttpResponse handleInitialized(const HttpRequest& req, const std::string& arn);
  HttpResponse handleHealth(const HttpRequest& req);
  HttpResponse handleFunctionHealth() const;
  std::optional<HttpResponse> handleCredentials(const HttpRequest& req, ParkId park);
  HttpResponse publish(const Worker& caller, const HttpRequest& req);

  Result<Worker*> authenticate(const HttpRequest& req);
  Result<std::string> enqueue(Function& f, std::shared_ptr<const std::string> payload,
                              std::string client_context, bool request_response,
                              std::string caller_arn);
  void dispatch(Function& f);
  void assign(Function& f, Worker& w, ParkId park);
  void complete(const std::string& invocation_id, std::string body, std::string function_error);
  std::string storeImmediateResult(std::string caller_arn, std::string body);
  void retain(const std::string& invocation_id);
  void respond(ParkId park, HttpResponse r);
  std::string newInvocationId();

  IpcOptions opts_;
  IpcListener& listener_;
  Log log_;
  Responder responder_;
  SystemServices* services_ = nullptr;
  CredentialSource* credentials_ = nullptr;
  std::shared_ptr<IpcCore*> self_;  // lets late E9 answers find out whether the core still exists
  std::map<std::string, std::unique_ptr<Function>, std::less<>> functions_;
  std::unordered_map<WorkerId, std::unique_ptr<Worker>> workers_;
  std::unordered_map<std::string, WorkerId> tokens_;
  std::unordered_map<std::string, std::unique_ptr<Invocation>> invocations_;
  std::deque<std::string> retained_;  // finished results in completion order (bounded)
  std::unordered_map<ParkId, Park> parks_;
  uint64_t id_state_[2];
  std::optional<HttpResponse> immediate_;  // assign() output when the E3 is answered inline
  // Publish (E1 to GGRouter) client contexts already decoded: the header text -> its topic and
  // queueFullPolicy. A function publishes to a few topics with the same context each time, so
  // this skips the base64 + JSON work (~30k instructions) of all but the first. Bounded: at most
  // kPublishContextCacheEntries entries of at most kPublishContextCacheKeyBytes (cleared when
  // full).
  struct PublishTarget {
    std::string subject;
    std::string policy;
  };
  static constexpr size_t kPublishContextCacheEntries = 64;
  static constexpr size_t kPublishContextCacheKeyBytes = 1024;
  MemoCache<PublishTarget> publish_contexts_{kPublishContextCacheEntries,
                                             kPublishContextCacheKeyBytes};
  Result<PublishTarget> publishTarget(const std::string& client_context);
};

}  // namespace evg::ipc
