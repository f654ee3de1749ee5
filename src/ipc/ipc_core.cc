#include "ipc/ipc_core.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "base/base64.h"
#include "base/json.h"
#include "ipc/secret_wire.h"

namespace evg::ipc {

using json = nlohmann::json;

namespace {

constexpr std::string_view kPrefix = "/2016-11-01/";
constexpr std::string_view kFunctionsPrefix = "/2016-11-01/functions/";

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

HttpResponse accepted(const std::string& invocation_id) {
  HttpResponse r;
  r.status = 202;
  r.headers.emplace_back("X-Amz-InvocationId", invocation_id);
  return r;
}

HttpResponse jsonResponse(int status, const json& j) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

std::string unhandledBody(const std::string& message, const std::string& type) {
  return json{{"errorMessage", message}, {"errorType", type}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string_view workerStateName(WorkerState s) {
  switch (s) {
    case WorkerState::kStarting:
      return "Starting";
    case WorkerState::kInitialized:
      return "Initialized";
    case WorkerState::kFailedInitialization:
      return "FailedInitialization";
    case WorkerState::kWaiting:
      return "Waiting";
    case WorkerState::kWorking:
      return "Working";
    case WorkerState::kTerminated:
      return "Terminated";
  }
  return "NotStarted";
}

struct IpcCore::Invocation {
  enum class State { kQueued, kRunning, kDone };
  std::string id;
  std::string arn;
  std::string caller_arn;  // function allowed to fetch the result (E2)
  bool request_response = false;
  std::shared_ptr<const std::string> payload;
  std::string client_context;
  State state = State::kQueued;
  WorkerId worker = 0;
  std::string result;
  std::string function_error;
  std::vector<ParkId> waiters;
};

struct IpcCore::Function {
  FunctionRegistration reg;
  std::deque<std::string> queue;                    // invocation ids, FIFO
  size_t queued_bytes = 0;                          // payload bytes of the queued invocations
  std::deque<std::pair<ParkId, WorkerId>> pollers;  // parked E3s, FIFO
  std::vector<WorkerId> workers;
  FunctionStats st;
  size_t bound(const IpcOptions& o) const {
    return reg.max_work_items != 0 ? reg.max_work_items : o.max_work_items;
  }
};

struct IpcCore::Worker {
  WorkerId id = 0;
  std::string arn;
  std::string token;
  int pid = 0;
  WorkerState state = WorkerState::kStarting;
  bool revoked = false;
  std::string current;  // running invocation id
  ParkId poll = 0;      // parked E3 (0 = none)
  bool polling = false;
};

struct IpcCore::Park {
  enum class Kind { kResult, kWork, kCredentials };
  Kind kind = Kind::kWork;
  std::string key;  // invocation id (kResult) or function ARN (kWork)
  WorkerId worker = 0;
};

IpcCore::IpcCore(IpcOptions opts, IpcListener& listener, Log log)
    : opts_(std::move(opts)),
      listener_(listener),
      log_(std::move(log)),
      self_(std::make_shared<IpcCore*>(this)) {
  if (!opts_.now_ms) {
    opts_.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  std::random_device rd;
  id_state_[0] = (static_cast<uint64_t>(rd()) << 32) | rd() | 1;
  id_state_[1] = (static_cast<uint64_t>(rd()) << 32) | rd();
}

IpcCore::~IpcCore() = default;

std::string IpcCore::newInvocationId() {
  // xorshift128+: unique, unpredictable enough for ids (tokens use the OS CSPRNG).
  auto next = [this] {
    uint64_t s1 = id_state_[0];
    const uint64_t s0 = id_state_[1];
    id_state_[0] = s0;
    s1 ^= s1 << 23;
    id_state_[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return id_state_[1] + s0;
  };
  uint64_t a = next(), b = next();
  a = (a & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;  // version 4
  b = (b & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // variant 10
  // 8-4-4-4-12 lower-case hex digits of a then b (snprintf cost ~2.5k instructions per id).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  size_t pos = 0;
  auto put = [&](uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; --i)
      id[pos + static_cast<size_t>(digits - 1 - i)] = kHex[(v >> (4 * i)) & 0xF];
    pos += static_cast<size_t>(digits) + 1;  // and the dash
  };
  put(a >> 32, 8);
  put((a >> 16) & 0xFFFF, 4);
  put(a & 0xFFFF, 4);
  put(b >> 48, 4);
  put(b & 0xFFFFFFFFFFFFull, 12);
  return id;
}

// ---------------------------------------------------------------- functions and workers

void IpcCore::addFunction(const FunctionRegistration& reg) {
  auto& f = functions_[reg.arn];
  if (!f) {
    f = std::make_unique<Function>();
    f->st.arn = reg.arn;
  }
  f->reg = reg;
}

void IpcCore::removeFunction(const std::string& arn) {
  auto it = functions_.find(arn);
  if (it == functions_.end()) return;
  std::unique_ptr<Function> f = std::move(it->second);
  functions_.erase(it);
  for (auto& [park, wid] : f->pollers) {
    if (auto w = workers_.find(wid); w != workers_.end()) w->second->poll = 0;
    respond(park, errorResponse(Status::notFound("function " + arn + " was removed")));
  }
  for (const auto& id : f->queue) {
    complete(id, unhandledBody("function " + arn + " was removed before the work ran", "Unhandled"),
             "Unhandled");
  }
}

bool IpcCore::hasFunction(const std::string& arn) const { return functions_.count(arn) != 0; }

size_t IpcCore::queueSpace(const std::string& arn) const {
  auto it = functions_.find(arn);
  if (it == functions_.end()) return 0;
  size_t bound = it->second->bound(opts_);
  if (it->second->queued_bytes >= opts_.max_work_bytes) return 0;
  return it->second->queue.size() >= bound ? 0 : bound - it->second->queue.size();
}

size_t IpcCore::queueDepth(const std::string& arn) const {
  auto it = functions_.find(arn);
  return it == functions_.end() ? 0 : it->second->queue.size();
}

Status IpcCore::addWorker(WorkerId id, const std::string& arn, const std::string& token, int pid) {
  auto fit = functions_.find(arn);
  if (fit == functions_.end()) return Status::notFound("function not registered: " + arn);
  if (workers_.count(id) != 0) return Status::conflict("worker id in use: " + std::to_string(id));
  if (token.empty() || tokens_.count(token) != 0) return Status::conflict("worker token in use");
  auto w = std::make_unique<Worker>();
  w->id = id;
  w->arn = arn;
  w->token = token;
  w->pid = pid;
  tokens_[token] = id;
  workers_[id] = std::move(w);
  fit->second->workers.push_back(id);
  return Status::ok();
}

void IpcCore::removeWorker(WorkerId id, const std::string& reason) {
  auto it = workers_.find(id);
  if (it == workers_.end()) return;
  std::unique_ptr<Worker> w = std::move(it->second);
  workers_.erase(it);
  if (!w->revoked) tokens_.erase(w->token);
  auto fit = functions_.find(w->arn);
  if (fit != functions_.end()) {
    Function& f = *fit->second;
    f.workers.erase(std::remove(f.workers.begin(), f.workers.end(), id), f.workers.end());
    f.pollers.erase(std::remove_if(f.pollers.begin(), f.pollers.end(),
                                   [&](const auto& p) { return p.second == id; }),
                    f.pollers.end());
  }
  if (w->poll != 0) respond(w->poll, errorResponse(Status::busy("worker is stopping: " + reason)));
  if (!w->current.empty()) {
    if (fit != functions_.end()) fit->second->st.unhandled_errors++;
    complete(w->current, unhandledBody(reason, "Unhandled"), "Unhandled");
  }
}

bool IpcCore::timeoutWork(WorkerId worker, const std::string& invocation_id) {
  auto it = workers_.find(worker);
  if (it == workers_.end() || it->second->current != invocation_id) return false;
  Worker& w = *it->second;
  uint32_t timeout_ms = 0;
  if (auto fit = functions_.find(w.arn); fit != functions_.end()) {
    timeout_ms = fit->second->reg.timeout_ms;
    fit->second->st.timeouts++;
    fit->second->st.unhandled_errors++;
  }
  char msg[96];
  snprintf(msg, sizeof msg, "Task timed out after %.2f seconds", timeout_ms / 1000.0);
  tokens_.erase(w.token);
  w.revoked = true;
  w.state = WorkerState::kTerminated;
  std::string id = w.current;
  log_.warn(std::string(msg) + ": invocation " + id + " of " + w.arn + " (worker " +
            std::to_string(worker) + ")");
  complete(id, unhandledBody(msg, "TimeoutError"), "Unhandled");
  return true;
}

std::optional<WorkerInfo> IpcCore::worker(WorkerId id) const {
  auto it = workers_.find(id);
  if (it == workers_.end()) return std::nullopt;
  return WorkerInfo{id, it->second->arn, it->second->pid, it->second->state};
}

std::vector<WorkerInfo> IpcCore::workers() const {
  std::vector<WorkerInfo> out;
  for (const auto& [id, w] : workers_) out.push_back({id, w->arn, w->pid, w->state});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

std::vector<FunctionStats> IpcCore::stats() const {
  std::vector<FunctionStats> out;
  for (const auto& [arn, f] : functions_) {
    FunctionStats s = f->st;
    s.queued = f->queue.size();
    s.queued_bytes = f->queued_bytes;
    s.workers = f->workers.size();
    s.waiting_workers = f->pollers.size();
    out.push_back(std::move(s));
  }
  return out;
}

// ---------------------------------------------------------------- work queue

Result<std::string> IpcCore::submitEvent(const std::string& arn,
                                         std::shared_ptr<const std::string> payload,
                                         std::string client_context_b64) {
  auto it = functions_.find(arn);
  if (it == functions_.end()) return Status::notFound("function not found: " + arn);
  return enqueue(*it->second, std::move(payload), std::move(client_context_b64), false, "");
}

Result<std::string> IpcCore::enqueue(Function& f, std::shared_ptr<const std::string> payload,
                                     std::string client_context, bool request_response,
                                     std::string caller_arn) {
  size_t bound = f.bound(opts_);
  if (f.queue.size() >= bound) {
    f.st.dropped++;
    return Status::retry("work queue of " + f.reg.arn + " is full (" + std::to_string(bound) +
                         " items, runtime.maxWorkItemCount)");
  }
  const size_t bytes = payload ? payload->size() : 0;
  if (f.queued_bytes + bytes > opts_.max_work_bytes) {
    f.st.dropped++;
    f.st.dropped_bytes++;
    return Status::retry(
        "work queue of " + f.reg.arn + " is full: " + std::to_string(f.queued_bytes) +
        " bytes queued + " + std::to_string(bytes) + " would pass " +
        std::to_string(opts_.max_work_bytes) + " (evergreen.runtime.maxWorkQueueBytes)");
  }
  auto inv = std::make_unique<Invocation>();
  inv->id = newInvocationId();
  inv->arn = f.reg.arn;
  inv->caller_arn = std::move(caller_arn);
  inv->request_response = request_response;
  inv->payload = payload ? std::move(payload) : std::make_shared<const std::string>();
  inv->client_context = std::move(client_context);
  std::string id = inv->id;
  invocations_[id] = std::move(inv);
  f.queue.push_back(id);
  f.queued_bytes += bytes;
  f.st.accepted++;
  dispatch(f);
  return id;
}

void IpcCore::dispatch(Function& f) {
  while (!f.queue.empty() && !f.pollers.empty()) {
    auto [park, wid] = f.pollers.front();
    f.pollers.pop_front();
    auto wit = workers_.find(wid);
    if (wit == workers_.end()) continue;
    assign(f, *wit->second, park);
  }
  if (!f.queue.empty()) listener_.onWorkQueued(f.reg.arn, f.queue.size());
}

// Pops the head of f's queue onto worker w and answers its E3 (parked under `park`, or
// returned through pending_ when park == 0).
void IpcCore::assign(Function& f, Worker& w, ParkId park) {
  std::string id = f.queue.front();
  f.queue.pop_front();
  Invocation& inv = *invocations_.at(id);
  f.queued_bytes -= std::min(f.queued_bytes, inv.payload->size());
  inv.state = Invocation::State::kRunning;
  inv.worker = w.id;
  w.current = id;
  w.state = WorkerState::kWorking;
  w.polling = false;
  w.poll = 0;
  HttpResponse r;
  r.status = 200;
  r.headers.emplace_back("X-Amz-InvocationId", id);
  r.headers.emplace_back("X-Amz-Client-Context", inv.client_context);
  r.headers.emplace_back("Content-Type", "application/octet-stream");
  r.body = *inv.payload;
  listener_.onWorkStarted(w.id, id, f.reg.timeout_ms);
  if (park != 0) {
    respond(park, std::move(r));
  } else {
    immediate_ = std::move(r);
  }
}

void IpcCore::complete(const std::string& invocation_id, std::string body,
                       std::string function_error) {
  auto it = invocations_.find(invocation_id);
  if (it == invocations_.end()) return;
  Invocation& inv = *it->second;
  if (inv.state == Invocation::State::kDone) return;
  if (inv.state == Invocation::State::kRunning) {
    if (auto w = workers_.find(inv.worker); w != workers_.end() && w->second->current == inv.id) {
      w->second->current.clear();
      if (w->second->state == WorkerState::kWorking) w->second->state = WorkerState::kInitialized;
    }
    listener_.onWorkFinished(inv.worker, inv.id);
  } else if (auto fit = functions_.find(inv.arn); fit != functions_.end()) {
    auto& q = fit->second->queue;
    auto before = q.size();
    q.erase(std::remove(q.begin(), q.end(), inv.id), q.end());
    if (q.size() != before) {
      fit->second->queued_bytes -= std::min(fit->second->queued_bytes, inv.payload->size());
    }
  }
  if (!inv.request_response) {
    invocations_.erase(it);
    return;
  }
  inv.state = Invocation::State::kDone;
  inv.result = std::move(body);
  inv.function_error = std::move(function_error);
  if (inv.waiters.empty()) {
    retain(inv.id);
    return;
  }
  std::vector<ParkId> waiters = std::move(inv.waiters);
  HttpResponse r;
  r.status = 200;
  r.headers.emplace_back("X-Amz-Function-Error", inv.function_error);
  r.headers.emplace_back("Content-Type", "application/octet-stream");
  r.body = std::move(inv.result);
  invocations_.erase(it);
  for (ParkId p : waiters) respond(p, r);
}

void IpcCore::retain(const std::string& invocation_id) {
  retained_.push_back(invocation_id);
  while (retained_.size() > opts_.max_retained_results) {
    std::string old = retained_.front();
    retained_.pop_front();
    auto it = invocations_.find(old);
    if (it != invocations_.end() && it->second->state == Invocation::State::kDone) {
      log_.warn("dropping unfetched result of invocation " + old + " (max_retained_results)");
      invocations_.erase(it);
    }
  }
}

std::string IpcCore::storeImmediateResult(std::string caller_arn, std::string body) {
  auto inv = std::make_unique<Invocation>();
  inv->id = newInvocationId();
  inv->caller_arn = std::move(caller_arn);
  inv->request_response = true;
  inv->state = Invocation::State::kDone;
  inv->result = std::move(body);
  std::string id = inv->id;
  invocations_[id] = std::move(inv);
  retain(id);
  return id;
}

void IpcCore::respond(ParkId park, HttpResponse r) {
  parks_.erase(park);
  if (responder_) responder_(park, std::move(r));
}

void IpcCore::cancel(ParkId park) {
  auto it = parks_.find(park);
  if (it == parks_.end()) return;
  Park p = it->second;
  parks_.erase(it);
  if (p.kind == Park::Kind::kCredentials) return;  // the late answer is dropped
  if (p.kind == Park::Kind::kResult) {
    auto inv = invocations_.find(p.key);
    if (inv != invocations_.end()) {
      auto& ws = inv->second->waiters;
      ws.erase(std::remove(ws.begin(), ws.end(), park), ws.end());
    }
    return;
  }
  if (auto fit = functions_.find(p.key); fit != functions_.end()) {
    auto& ps = fit->second->pollers;
    ps.erase(std::remove_if(ps.begin(), ps.end(), [&](const auto& x) { return x.first == park; }),
             ps.end());
  }
  if (auto w = workers_.find(p.worker); w != workers_.end() && w->second->poll == park) {
    w->second->poll = 0;
    w->second->polling = false;
  }
}

// ---------------------------------------------------------------- HTTP

std::optional<std::string> IpcCore::functionForToken(const std::string& token) const {
  if (token.empty()) return std::nullopt;
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return std::nullopt;
  auto w = workers_.find(it->second);
  if (w == workers_.end() || w->second->revoked) return std::nullopt;
  return w->second->arn;
}

Result<IpcCore::Worker*> IpcCore::authenticate(const HttpRequest& req) {
  const std::string* token = req.header(kHeaderAuthorization);
  if (token == nullptr || token->empty()) {
    return Status::unauthorized(
        "missing Authorization header (expected the worker's AWS_CONTAINER_AUTHORIZATION_TOKEN)");
  }
  auto it = tokens_.find(*token);
  if (it == tokens_.end()) return Status::forbidden("unknown or revoked authorization token");
  return workers_.at(it->second).get();
}

std::optional<HttpResponse> IpcCore::handle(const HttpRequest& req, ParkId park) {
  std::string_view path = req.path;
  if (path.substr(0, kFunctionsPrefix.size()) == kFunctionsPrefix) {
    std::string_view rest = path.substr(kFunctionsPrefix.size());
    if (endsWith(rest, "/work")) {
      std::string arn(rest.substr(0, rest.size() - 5));
      if (req.method == "GET") return handleGetWork(req, arn, park);
      if (req.method == "POST") return handlePostWork(req, arn);
    } else if (endsWith(rest, "/initialized")) {
      std::string arn(rest.substr(0, rest.size() - 12));
      if (req.method == "PUT" || req.method == "POST") return handleInitialized(req, arn);
    } else if (!rest.empty() && rest.find('/') == std::string_view::npos) {
      std::string arn(rest);
      if (req.method == "POST") return handleInvoke(req, arn, park);
      if (req.method == "GET") return handleGetResult(req, arn, park);
    }
    return errorResponse(Status::invalid("unsupported request " + req.method + " " + req.path));
  }
  if (path == kCredentialProviderPath || path == "/2016-11-01/credentialprovider") {
    if (req.method == "GET") return handleCredentials(req, park);
    return errorResponse(Status::invalid("the credential provider answers GET only"));
  }
  if (path == "/2016-11-01/health/workers") return handleHealth(req);
  if (path == "/2016-11-01/health/functions" && req.method == "GET") {
    return handleFunctionHealth();
  }
  (void)kPrefix;
  return errorResponse(Status::notFound("no such endpoint: " + req.method + " " + req.path));
}

std::optional<HttpResponse> IpcCore::handleInvoke(const HttpRequest& req, const std::string& arn,
                                                  ParkId /*park*/) {
  auto caller = authenticate(req);
  if (!caller) return errorResponse(caller.status());
  Worker& w = **caller;
  const std::string* type = req.header(kHeaderInvocationType);
  bool request_response = true;
  if (type != nullptr && !type->empty()) {
    if (*type == "Event") {
      request_response = false;
    } else if (*type != "RequestResponse") {
      return errorResponse(
          Status::invalid("X-Amz-Invocation-Type must be Event or "
                          "RequestResponse, got \"" +
                          *type + "\""));
    }
  }
  const std::string* cc = req.header(kHeaderClientContext);
  std::string client_context = cc != nullptr ? *cc : std::string();

  if (arn == kRouterArn) return publish(w, req);
  if (arn == kShadowArn) {
    std::string body;
    if (services_ != nullptr) {
      std::string subject;
      if (!client_context.empty()) {
        auto decoded = base64Decode(client_context);
        json j = decoded ? parseJsonOrDiscarded(*decoded) : json();
        if (j.is_object() && j.contains("custom") && j["custom"].is_object() &&
            j["custom"].contains("subject") && j["custom"]["subject"].is_string()) {
          subject = j["custom"]["subject"].get<std::string>();
        }
      }
      body = services_->shadowInvoke(w.arn, subject, req.body);
    } else {
      // No shadow service wired: answer like AWS IoT's "no shadow" error.
      body = json{{"code", 404},
                  {"message",
                   "No shadow exists with name: Unnamed Shadow (the local shadow service "
                   "is not available)"},
                  {"timestamp", opts_.now_ms()}}
                 .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    if (!request_response) return accepted(newInvocationId());
    return accepted(storeImmediateResult(w.arn, std::move(body)));
  }
  if (arn == kSecretsArn) {
    std::string body;
    if (services_ != nullptr) {
      body = services_->secretInvoke(w.arn, req.body);
    } else {
      json req_json = parseJsonOrDiscarded(req.body);
      auto sid = req_json.is_object() ? req_json.find("SecretId") : req_json.end();
      bool has_id = req_json.is_object() && sid != req_json.end() && sid->is_string() &&
                    !sid->get_ref<const std::string&>().empty();
      body = has_id ? secretErrorBody(SecretError::kNotFound,
                                      "Secret not found: " + sid->get<std::string>() +
                                          " (the local secret manager is not available)")
                    : secretErrorBody(SecretError::kBadRequest, "SecretId is required");
    }
    if (!request_response) return accepted(newInvocationId());
    return accepted(storeImmediateResult(w.arn, std::move(body)));
  }
  auto fit = functions_.find(arn);
  if (fit == functions_.end()) {
    return errorResponse(Status::notFound("function not found: " + arn));
  }
  auto id = enqueue(*fit->second, std::make_shared<const std::string>(req.body),
                    std::move(client_context), request_response, w.arn);
  if (!id) return errorResponse(id.status());
  return accepted(*id);
}

Result<IpcCore::PublishTarget> IpcCore::publishTarget(const std::string& cc) {
  if (const PublishTarget* hit = publish_contexts_.find(cc)) return *hit;
  auto decoded = base64Decode(cc);
  if (!decoded) return Status::invalid("X-Amz-Client-Context: " + decoded.status().message());
  auto parsed = parseJson(*decoded);
  if (!parsed) return Status::invalid("X-Amz-Client-Context: " + parsed.status().message());
  json j = std::move(parsed).value();
  if (!j.is_object() || !j.contains("custom") || !j["custom"].is_object()) {
    return Status::invalid("X-Amz-Client-Context is not a JSON object with custom");
  }
  const json& custom = j["custom"];
  if (!custom.contains("subject") || !custom["subject"].is_string() ||
      custom["subject"].get<std::string>().empty()) {
    return Status::invalid("publish: custom.subject (the topic) is missing");
  }
  PublishTarget t;
  t.subject = custom["subject"].get<std::string>();
  if (custom.contains("queueFullPolicy") && custom["queueFullPolicy"].is_string()) {
    t.policy = custom["queueFullPolicy"].get<std::string>();
  }
  if (!t.policy.empty() && t.policy != "BestEffort" && t.policy != "AllOrError") {
    return Status::invalid("queueFullPolicy must be BestEffort or AllOrError, got \"" + t.policy +
                           "\"");
  }
  publish_contexts_.put(cc, t);
  return t;
}

HttpResponse IpcCore::publish(const Worker& caller, const HttpRequest& req) {
  const std::string* cc = req.header(kHeaderClientContext);
  if (cc == nullptr || cc->empty()) {
    return errorResponse(Status::invalid("publish needs X-Amz-Client-Context with custom.subject"));
  }
  auto target = publishTarget(*cc);
  if (!target) return errorResponse(target.status());
  Status st = listener_.onPublish(caller.arn, target->subject,
                                  std::make_shared<const std::string>(req.body), target->policy);
  if (!st) return errorResponse(st);
  return accepted(newInvocationId());
}

std::optional<HttpResponse> IpcCore::handleGetResult(const HttpRequest& req, const std::string& arn,
                                                     ParkId park) {
  auto caller = authenticate(req);
  if (!caller) return errorResponse(caller.status());
  const std::string* id = req.header(kHeaderInvocationId);
  if (id == nullptr || id->empty()) {
    return errorResponse(Status::invalid("X-Amz-InvocationId header is required"));
  }
  auto it = invocations_.find(*id);
  if (it == invocations_.end() || (!it->second->arn.empty() && it->second->arn != arn)) {
    return errorResponse(
        Status::notFound("no result pending for invocation " + *id + " of " + arn));
  }
  Invocation& inv = *it->second;
  if (inv.caller_arn != (*caller)->arn) {
    return errorResponse(
        Status::forbidden("invocation " + *id + " was not made by " + (*caller)->arn));
  }
  if (!inv.request_response) {
    return errorResponse(Status::invalid("invocation " + *id + " is an Event; it has no result"));
  }
  if (inv.state == Invocation::State::kDone) {
    HttpResponse r;
    r.status = 200;
    r.headers.emplace_back("X-Amz-Function-Error", inv.function_error);
    r.headers.emplace_back("Content-Type", "application/octet-stream");
    r.body = std::move(inv.result);
    invocations_.erase(it);
    return r;
  }
  inv.waiters.push_back(park);
  parks_[park] = Park{Park::Kind::kResult, *id, 0};
  return std::nullopt;
}

std::optional<HttpResponse> IpcCore::handleGetWork(const HttpRequest& req, const std::string& arn,
                                                   ParkId park) {
  auto caller = authenticate(req);
  if (!caller) return errorResponse(caller.status());
  Worker& w = **caller;
  if (w.arn != arn) {
    return errorResponse(Status::forbidden("token belongs to " + w.arn + ", not " + arn));
  }
  auto fit = functions_.find(arn);
  if (fit == functions_.end()) return errorResponse(Status::notFound("function not found: " + arn));
  Function& f = *fit->second;
  if (!w.current.empty()) {
    f.st.unhandled_errors++;
    complete(w.current,
             unhandledBody("worker asked for new work without posting a result", "Unhandled"),
             "Unhandled");
  }
  if (w.poll != 0) {  // a previous poll of this worker is still parked: supersede it
    ParkId old = w.poll;
    cancel(old);
    if (responder_) {
      responder_(old, errorResponse(Status::conflict("superseded by a newer work poll")));
    }
  }
  if (!f.queue.empty()) {
    immediate_.reset();
    assign(f, w, 0);
    std::optional<HttpResponse> r = std::move(immediate_);
    immediate_.reset();
    return r;
  }
  w.poll = park;
  w.polling = true;
  w.state = WorkerState::kWaiting;
  f.pollers.emplace_back(park, w.id);
  parks_[park] = Park{Park::Kind::kWork, arn, w.id};
  listener_.onWorkerWaiting(w.id);
  return std::nullopt;
}

HttpResponse IpcCore::handlePostWork(const HttpRequest& req, const std::string& arn) {
  auto caller = authenticate(req);
  if (!caller) return errorResponse(caller.status());
  Worker& w = **caller;
  if (w.arn != arn) {
    return errorResponse(Status::forbidden("token belongs to " + w.arn + ", not " + arn));
  }
  const std::string* id = req.header(kHeaderInvocationId);
  if (id == nullptr || id->empty()) {
    return errorResponse(Status::invalid("X-Amz-InvocationId header is required"));
  }
  auto it = invocations_.find(*id);
  if (it == invocations_.end() || it->second->state != Invocation::State::kRunning) {
    return errorResponse(Status::notFound("invocation " + *id + " is not running"));
  }
  if (it->second->worker != w.id) {
    return errorResponse(
        Status::forbidden("invocation " + *id + " is not assigned to this worker"));
  }
  const std::string* fe = req.header(kHeaderFunctionError);
  std::string function_error;
  if (fe != nullptr && !fe->empty()) function_error = *fe == "Unhandled" ? "Unhandled" : "Handled";
  if (auto fit = functions_.find(arn); fit != functions_.end()) {
    if (function_error.empty()) {
      fit->second->st.succeeded++;
    } else if (function_error == "Handled") {
      fit->second->st.handled_errors++;
    } else {
      fit->second->st.unhandled_errors++;
    }
  }
  complete(*id, req.body, function_error);
  HttpResponse r;
  r.status = 200;
  return r;
}

HttpResponse IpcCore::handleInitialized(const HttpRequest& req, const std::string& arn) {
  auto caller = authenticate(req);
  if (!caller) return errorResponse(caller.status());
  Worker& w = **caller;
  if (w.arn != arn) {
    return errorResponse(Status::forbidden("token belongs to " + w.arn + ", not " + arn));
  }
  json j = parseJsonOrDiscarded(req.body);
  if (j.is_discarded() || !j.is_object() || !j.contains("Success") || !j["Success"].is_boolean()) {
    return errorResponse(Status::invalid("expected {\"Success\": <bool>, \"Response\": \"...\"}"));
  }
  bool ok = j["Success"].get<bool>();
  std::string response = j.contains("Response") && j["Response"].is_string()
                             ? j["Response"].get<std::string>()
                             : std::string();
  if (w.state == WorkerState::kStarting || !ok) {
    w.state = ok ? WorkerState::kInitialized : WorkerState::kFailedInitialization;
  }
  listener_.onWorkerInitialized(w.id, ok, response);
  HttpResponse r;
  r.status = 200;
  return r;
}

std::optional<HttpResponse> IpcCore::handleCredentials(const HttpRequest& req, ParkId park) {
  auto caller = authenticate(req);
  if (!caller) return errorResponse(caller.status());
  if (credentials_ == nullptr) {
    return errorResponse(Status::busy(
        "no credential provider configured on this core (set evergreen.tes.credentialsEndpoint "
        "and evergreen.tes.roleAlias in config.json)"));
  }
  // The source may answer synchronously (cache) or later; `sync` tells the two apart.
  struct Pending {
    bool sync = true;
    std::optional<HttpResponse> answer;
  };
  auto pending = std::make_shared<Pending>();
  parks_[park] = Park{Park::Kind::kCredentials, "", 0};
  std::weak_ptr<IpcCore*> weak = self_;
  credentials_->credentials((*caller)->arn, [pending, weak, park](HttpResponse r) {
    if (pending->sync) {
      pending->answer = std::move(r);
      return;
    }
    auto self = weak.lock();
    if (!self) return;
    IpcCore* core = *self;
    if (core->parks_.count(park) == 0) return;  // client went away
    core->respond(park, std::move(r));
  });
  pending->sync = false;
  if (pending->answer) {
    parks_.erase(park);
    return std::move(pending->answer);
  }
  return std::nullopt;
}

HttpResponse IpcCore::handleHealth(const HttpRequest& req) {
  auto workerJson = [](const WorkerInfo& w) {
    return json{{"FuncArn", w.arn},
                {"WorkerId", std::to_string(w.id)},
                {"ProcessId", w.pid},
                {"WorkerState", std::string(workerStateName(w.state))}};
  };
  if (req.method == "GET") {
    json arr = json::array();
    for (const auto& w : workers()) arr.push_back(workerJson(w));
    return jsonResponse(200, arr);
  }
  if (req.method != "POST") return errorResponse(Status::invalid("Invalid request"));
  json j = parseJsonOrDiscarded(req.body);
  if (j.is_discarded() || !j.is_object() || !j.contains("FuncArns") || !j["FuncArns"].is_array()) {
    return errorResponse(Status::invalid("Invalid request"));
  }
  json out_workers = json::array(), invalid = json::array();
  auto all = workers();
  for (const auto& a : j["FuncArns"]) {
    if (!a.is_string() || !hasFunction(a.get<std::string>())) {
      invalid.push_back(a);
      continue;
    }
    for (const auto& w : all) {
      if (w.arn == a.get<std::string>()) out_workers.push_back(workerJson(w));
    }
  }
  if (out_workers.size() > opts_.max_health_workers) {
    return errorResponse(Status::invalid("Request exceeds max number of workers"));
  }
  return jsonResponse(200, json{{"Workers", out_workers}, {"InvalidArns", invalid}});
}

HttpResponse IpcCore::handleFunctionHealth() const {
  json arr = json::array();
  for (const auto& s : stats()) {
    arr.push_back(json{{"FuncArn", s.arn},
                       {"QueuedWorkItems", s.queued},
                       {"Workers", s.workers},
                       {"WaitingWorkers", s.waiting_workers},
                       {"Accepted", s.accepted},
                       {"Dropped", s.dropped},
                       {"Succeeded", s.succeeded},
                       {"HandledErrors", s.handled_errors},
                       {"UnhandledErrors", s.unhandled_errors},
                       {"Timeouts", s.timeouts}});
  }
  return jsonResponse(200, arr);
}

}  // namespace evg::ipc
