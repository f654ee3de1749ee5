// libFuzzer target: raw bytes on one IPC connection -> HttpRequestReader (HTTP/1.1 framing,
// limits, 400/413/431 answers) -> IpcCore::handle (the sans-I/O v1 IPC core), exactly the path of
// src/ipc/ipc_server.cc without sockets. Two functions with one worker each (tokens "tokA",
// "tokB"), GGRouter/GGShadowService/GGSecretManager reachable; parked requests are kept and
// randomly cancelled, as a disconnect would.
// Input: [chunk byte][bytes...]; the bytes are fed in chunks of (chunk % 64) + 1.
// Properties beyond "no crash / no sanitizer report":
//   - every answer has a status in 100..599 and every error answer a JSON body;
//   - a failed reader always has a 400/413/431 answer naming the problem;
//   - each parked request is answered at most once through the Responder.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "base/json.h"
#include "ipc/http_reader.h"
#include "ipc/ipc_core.h"

namespace {

using namespace evg::ipc;

void check(bool cond) {
  if (!cond) std::abort();
}

struct Listener : IpcListener {
  void onWorkQueued(const std::string&, size_t) override {}
  void onWorkStarted(WorkerId, const std::string&, uint32_t) override {}
  void onWorkFinished(WorkerId, const std::string&) override {}
  void onWorkerWaiting(WorkerId) override {}
  void onWorkerInitialized(WorkerId, bool, const std::string&) override {}
  evg::Status onPublish(const std::string&, const std::string& topic,
                        std::shared_ptr<const std::string>, std::string_view policy) override {
    if (policy == "AllOrError" && topic.size() % 2 == 1) return evg::Status::retry("full");
    return evg::Status::ok();
  }
};

struct Services : SystemServices {
  std::string shadowInvoke(const std::string&, const std::string& subject,
                           const std::string& body) override {
    auto j = evg::parseJsonOrDiscarded(body);
    return j.is_discarded()
               ? R"({"code":400,"message":"Invalid JSON"})"
               : R"({"subject":")" + std::string(subject.size() < 8 ? "s" : "l") + "\"}";
  }
  std::string secretInvoke(const std::string&, const std::string&) override {
    return R"({"Status":404})";
  }
};

void checkAnswer(const HttpResponse& r) {
  check(r.status >= 100 && r.status <= 599);
  if (r.status >= 400 && r.status != 404 && r.status != 410) {
    // Error answers carry a JSON body naming the problem.
    auto j = evg::parseJsonOrDiscarded(r.body);
    check(!j.is_discarded());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = (data[0] % 64) + 1;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  Listener listener;
  Services services;
  IpcOptions o;
  o.max_work_items = 4;
  o.max_retained_results = 8;
  o.now_ms = [] { return int64_t{1700000000000}; };
  IpcCore core(o, listener, evg::Log());
  core.setSystemServices(&services);
  std::set<ParkId> open_parks, answered;
  core.setResponder([&](ParkId p, HttpResponse r) {
    check(open_parks.count(p) == 1);  // only parked, unanswered requests get an answer
    check(answered.insert(p).second);
    open_parks.erase(p);
    checkAnswer(r);
  });
  core.addFunction({"arn:aws:lambda:us-east-1:123456789012:function:A:1", 3000, 2});
  core.addFunction({"arn:aws:lambda:us-east-1:123456789012:function:B:1", 3000, 0});
  check(core.addWorker(1, "arn:aws:lambda:us-east-1:123456789012:function:A:1", "tokA", 11).isOk());
  check(core.addWorker(2, "arn:aws:lambda:us-east-1:123456789012:function:B:1", "tokB", 12).isOk());

  HttpRequestReader reader(HttpReaderLimits{2048, 4096});
  ParkId next = 1;
  int handled = 0;
  while (!rest.empty() && handled < 64) {
    const size_t n = rest.size() < chunk ? rest.size() : chunk;
    auto st = reader.feed(rest.substr(0, n));
    rest.remove_prefix(n);
    while (st == HttpRequestReader::State::kDone) {
      HttpRequest req = reader.take();
      ParkId park = next++;
      open_parks.insert(park);
      auto answer = core.handle(req, park);
      ++handled;
      if (answer) {
        open_parks.erase(park);
        checkAnswer(*answer);
      } else if (!open_parks.empty() && (req.body.size() % 3) == 0) {
        // A client went away: cancel its parked request (the oldest one).
        ParkId p = *open_parks.begin();
        open_parks.erase(p);
        core.cancel(p);
      }
      st = reader.next();
    }
    if (st == HttpRequestReader::State::kFailed) {
      const HttpResponse& f = reader.failure();
      check(f.status == 400 || f.status == 413 || f.status == 431);
      check(!f.body.empty());
      break;
    }
  }
  if (handled % 2 == 1) core.timeoutWork(1, "x");
  core.removeWorker(1, "fuzz end");
  core.removeFunction("arn:aws:lambda:us-east-1:123456789012:function:B:1");
  return 0;
}
