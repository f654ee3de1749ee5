#include "streammgr/service.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace evg::streammgr {

using nlohmann::json;

json statusBody(const std::string& request_id, StatusCode code, const std::string& message) {
  json b = {{"requestId", request_id}, {"status", static_cast<int>(code)}};
  if (!message.empty()) b["errorMessage"] = message;
  return b;
}

namespace {

json errorBody(const std::string& request_id, const Status& s) {
  return statusBody(request_id, statusCodeFor(s), s.message());
}

std::string requestIdOf(const json& req) {
  const json* r = field(req, "requestId");
  return r != nullptr && r->is_string() ? r->get<std::string>() : std::string();
}

}  // namespace

Service::Service(StreamStore& store, ServiceOptions opts, Callbacks cb, Log log)
    : store_(store), opts_(std::move(opts)), cb_(std::move(cb)), log_(std::move(log)) {}

void Service::opened(ConnId c) { conns_.emplace(c, Conn(opts_.max_frame_bytes)); }

void Service::closed(ConnId c) {
  conns_.erase(c);
  parked_.remove_if([c](const Parked& p) { return p.conn == c; });
}

void Service::reply(ConnId c, Op op, const json& body) {
  cb_.send(c, encodeFrame(op, encodeCbor(body)));
}

void Service::fail(ConnId c, const std::string& reason) {
  auto it = conns_.find(c);
  if (it != conns_.end()) it->second.closing = true;
  log_.warn("connection " + std::to_string(c) + " closed: " + reason);
  cb_.close(c, reason);
}

void Service::data(ConnId c, std::string_view bytes) {
  dataImpl(c, bytes);
  commitHeld();
}

void Service::commitHeld() {
  // Group commit: while one fdatasync runs, answers (and their segments) accumulate for the next.
  if (held_.empty() || flush_in_flight_) return;
  auto batch = std::make_shared<std::vector<std::pair<ConnId, std::string>>>(std::move(held_));
  held_.clear();
  auto fds = store_.takeFlushPending();
  flush_in_flight_ = true;
  auto done = [this, batch] {
    flush_in_flight_ = false;
    for (auto& [conn, frame] : *batch) cb_.send(conn, std::move(frame));
    commitHeld();
  };
  if (cb_.flush) {
    cb_.flush(std::move(fds), std::move(done));
    return;
  }
  for (int fd : fds) {
    if (::fdatasync(fd) != 0) log_.error(std::string("fdatasync: ") + std::strerror(errno));
    ::close(fd);
  }
  done();
}

void Service::dataImpl(ConnId c, std::string_view bytes) {
  auto it = conns_.find(c);
  if (it == conns_.end() || it->second.closing) return;
  Conn& conn = it->second;
  if (!conn.got_version && !bytes.empty()) {
    uint8_t v = static_cast<uint8_t>(bytes[0]);
    bytes.remove_prefix(1);
    conn.got_version = true;
    // Our version byte goes first either way; the client checks it.
    cb_.send(c, std::string(1, static_cast<char>(kConnectVersion)));
    if (v != kConnectVersion) {
      reply(c, Op::kConnectResponse,
            statusBody("", StatusCode::kUnsupportedConnectVersion,
                       "connect version " + std::to_string(v) + " is not supported (expected " +
                           std::to_string(kConnectVersion) + ")"));
      fail(c, "unsupported connect version " + std::to_string(v));
      return;
    }
  }
  conn.decoder.feed(bytes);
  const auto now = Clock::now();
  while (true) {
    auto it2 = conns_.find(c);  // handlers never erase, but a close may have been requested
    if (it2 == conns_.end() || it2->second.closing) return;
    Conn& cn = it2->second;
    auto f = cn.decoder.next();
    if (!f) {
      fail(c, f.status().message());
      return;
    }
    if (!f->has_value()) return;
    Frame& fr = **f;
    if (!cn.connected) {
      handshake(c, cn, fr);
      continue;
    }
    auto req = decodeCbor(fr.payload);
    if (!req) {
      // Without a requestId the client cannot match an answer: the stream is unusable.
      reply(c, Op::kUnknownOperationError,
            statusBody("", StatusCode::kInvalidRequest, req.status().message()));
      fail(c, req.status().message());
      return;
    }
    auto ans = handle(c, fr.op, *req, now);
    if (ans) reply(c, ans->first, ans->second);
  }
}

void Service::handshake(ConnId c, Conn& conn, const Frame& f) {
  auto req = decodeCbor(f.payload);
  std::string rid = req ? requestIdOf(*req) : std::string();
  auto refuse = [&](StatusCode code, const std::string& why) {
    reply(c, Op::kConnectResponse, statusBody(rid, code, why));
    fail(c, why);
  };
  if (f.op != Op::kConnect) {
    refuse(StatusCode::kUnexpectedOperation,
           "expected Connect, got operation " + std::to_string(f.raw_op));
    return;
  }
  if (!req) {
    refuse(StatusCode::kInvalidRequest, req.status().message());
    return;
  }
  const json* pv = field(*req, "protocolVersion");
  if (pv == nullptr || !pv->is_string()) {
    refuse(StatusCode::kInvalidProtocolVersion, "protocolVersion is required");
    return;
  }
  auto supported = [](const std::string& v) {
    if (v == kProtocolVersion) return true;
    for (const char* o : kOtherProtocolVersions) {
      if (v == o) return true;
    }
    return false;
  };
  bool ok = supported(pv->get<std::string>());
  if (const json* others = field(*req, "otherSupportedProtocolVersions");
      !ok && others != nullptr && others->is_array()) {
    for (const auto& o : *others) ok = ok || (o.is_string() && supported(o.get<std::string>()));
  }
  if (!ok) {
    refuse(StatusCode::kUnsupportedProtocolVersion,
           "protocol version " + pv->get<std::string>() +
               " is not supported (server: " + kProtocolVersion + ", 1.0.0)");
    return;
  }
  std::string who = "unauthenticated";
  if (opts_.authenticate) {
    const json* tok = field(*req, "authToken");
    std::optional<std::string> fn;
    if (tok != nullptr && tok->is_string() && opts_.validate_token) {
      fn = opts_.validate_token(tok->get<std::string>());
    }
    if (!fn) {
      refuse(StatusCode::kUnauthorized,
             tok == nullptr ? "authToken is required (STREAM_MANAGER_AUTHENTICATE_CLIENT is true)"
                            : "authToken is not the token of a running function");
      return;
    }
    who = *fn;
  }
  conn.connected = true;
  conn.client = "client-" + std::to_string(next_client_++);
  json body = statusBody(rid, StatusCode::kSuccess, "");
  body["protocolVersion"] = kProtocolVersion;
  body["supportedProtocolVersions"] = json::array({kProtocolVersion, "1.0.0"});
  body["serverVersion"] = kServerVersion;
  body["clientIdentifier"] = conn.client;
  reply(c, Op::kConnectResponse, body);
  log_.debug("connection " + std::to_string(c) + " connected (" + who + ")");
}

json Service::readAnswer(const std::string& rid, const std::string& stream, const ReadOptions& o) {
  auto msgs =
      store_.read(stream, o.start, static_cast<size_t>(o.max_count), opts_.max_message_bytes);
  if (!msgs) return errorBody(rid, msgs.status());
  json arr = json::array();
  for (auto& m : *msgs) {
    arr.push_back({{"streamName", m.stream},
                   {"sequenceNumber", m.sequenceNumber},
                   {"ingestTime", m.ingestTimeMs},
                   {"payload", bytesValue(m.payload)}});
  }
  json b = statusBody(rid, StatusCode::kSuccess, "");
  b["messages"] = std::move(arr);
  return b;
}

json Service::describe(const std::string& rid, const std::string& name) {
  auto def = store_.definition(name);
  if (!def) return errorBody(rid, def.status());
  auto st = store_.stats(name);
  json storage = {{"totalBytes", st->bytes}};
  if (st->oldest) storage["oldestSequenceNumber"] = *st->oldest;
  if (st->newest) storage["newestSequenceNumber"] = *st->newest;
  json exports = json::array();
  if (host_ != nullptr) {
    for (const auto& e : host_->statuses(name)) {
      json x = {{"exportConfigIdentifier", e.exportConfigIdentifier},
                {"lastExportedSequenceNumber", e.lastExportedSequenceNumber},
                {"lastExportTime", e.lastExportTimeMs},
                {"exportedBytesFromStream", e.exportedBytesFromStream},
                {"exportedMessagesCount", e.exportedMessagesCount}};
      if (!e.errorMessage.empty()) x["errorMessage"] = e.errorMessage;
      exports.push_back(std::move(x));
    }
  }
  json b = statusBody(rid, StatusCode::kSuccess, "");
  b["messageStreamInfo"] = {
      {"definition", def->toJson()}, {"storageStatus", storage}, {"exportStatuses", exports}};
  return b;
}

std::optional<std::pair<Op, json>> Service::handle(ConnId c, Op op, const json& req,
                                                   Clock::time_point now) {
  const std::string rid = requestIdOf(req);
  auto rop = responseOp(op);
  if (!rop || op == Op::kConnect) {
    return std::make_pair(Op::kUnknownOperationError,
                          statusBody(rid, StatusCode::kUnknownOperation,
                                     "operation " + std::to_string(static_cast<int>(op)) +
                                         " is not a stream manager request"));
  }
  auto answer = [&](json b) { return std::make_optional(std::make_pair(*rop, std::move(b))); };
  auto error = [&](const Status& s) { return answer(errorBody(rid, s)); };
  if (rid.empty()) return error(Status::invalid("requestId is required"));
  auto nameField = [&](const char* key) -> Result<std::string> {
    const json* n = field(req, key);
    if (n == nullptr) return Status::invalid(std::string(key) + " is required");
    EVG_RETURN_IF_ERROR(validateStreamName(*n, key));
    return n->get<std::string>();
  };
  switch (op) {
    case Op::kCreateMessageStream:
    case Op::kUpdateMessageStream: {
      const json* d = field(req, "definition");
      auto def = parseDefinition(d != nullptr ? *d : json());
      if (!def) return error(def.status());
      Status s = op == Op::kCreateMessageStream ? store_.create(*def) : store_.update(*def);
      return s ? answer(statusBody(rid, StatusCode::kSuccess, "")) : error(s);
    }
    case Op::kDeleteMessageStream: {
      auto name = nameField("name");
      if (!name) return error(name.status());
      Status s = store_.remove(*name);
      if (s) {
        // Parked reads of a deleted stream: ResourceNotFound.
        for (auto it = parked_.begin(); it != parked_.end();) {
          if (it->stream != *name) {
            ++it;
            continue;
          }
          Parked p = unpark(it);
          reply(p.conn, Op::kReadMessagesResponse,
                errorBody(p.request_id, Status::notFound("stream " + *name + " was deleted")));
        }
      }
      return s ? answer(statusBody(rid, StatusCode::kSuccess, "")) : error(s);
    }
    case Op::kAppendMessage: {
      auto name = nameField("name");
      if (!name) return error(name.status());
      const json* p = field(req, "payload");
      if (p == nullptr || !(p->is_binary() || p->is_string())) {
        return error(Status::invalid("payload is required (bytes)"));
      }
      std::string payload = p->is_binary()
                                ? std::string(p->get_binary().begin(), p->get_binary().end())
                                : p->get<std::string>();
      if (payload.size() > opts_.max_message_bytes) {
        return error(Status::tooLarge("payload of " + std::to_string(payload.size()) +
                                      " bytes exceeds streamManager.maxMessageBytes = " +
                                      std::to_string(opts_.max_message_bytes)));
      }
      bool deferred = false;
      auto seq = store_.append(*name, std::move(payload), &deferred);
      if (!seq) return error(seq.status());
      json b = statusBody(rid, StatusCode::kSuccess, "");
      b["sequenceNumber"] = *seq;
      if (deferred) {  // flushOnWrite: answered after the batch's fdatasync (commitHeld)
        held_.emplace_back(c, encodeFrame(*rop, encodeCbor(b)));
        return std::nullopt;
      }
      return answer(std::move(b));
    }
    case Op::kReadMessages: {
      auto name = nameField("streamName");
      if (!name) return error(name.status());
      const json* o = field(req, "readMessagesOptions");
      auto opts = parseReadOptions(o != nullptr ? *o : json(), opts_.max_read_timeout_ms);
      if (!opts) return error(opts.status());
      auto avail = store_.available(*name, opts->start);
      if (!avail) return error(avail.status());
      if (*avail >= opts->min_count) return answer(readAnswer(rid, *name, *opts));
      if (opts->timeout_ms == 0) {
        return answer(statusBody(rid, StatusCode::kNotEnoughMessages,
                                 "only " + std::to_string(*avail) + " of minMessageCount " +
                                     std::to_string(opts->min_count) + " messages available"));
      }
      Conn& conn = conns_.at(c);
      if (conn.parked >= opts_.max_pending_reads_per_connection) {
        return error(
            Status::busy("too many long-polling reads on this connection "
                         "(streamManager.maxPendingReadsPerConnection = " +
                         std::to_string(opts_.max_pending_reads_per_connection) + ")"));
      }
      conn.parked++;
      parked_.push_back({c, rid, *name, *opts, now + std::chrono::milliseconds(opts->timeout_ms)});
      return std::nullopt;
    }
    case Op::kListStreams: {
      json b = statusBody(rid, StatusCode::kSuccess, "");
      b["streams"] = store_.list();
      return answer(std::move(b));
    }
    case Op::kDescribeMessageStream: {
      auto name = nameField("name");
      if (!name) return error(name.status());
      return answer(describe(rid, *name));
    }
    default:
      break;
  }
  return error(Status::internal("unhandled operation"));
}

Service::Parked Service::unpark(std::list<Parked>::iterator& it) {
  Parked p = std::move(*it);
  it = parked_.erase(it);
  auto ci = conns_.find(p.conn);
  if (ci != conns_.end()) ci->second.parked--;
  return p;
}

void Service::onAppended(const std::string& stream) {
  for (auto it = parked_.begin(); it != parked_.end();) {
    if (it->stream != stream) {
      ++it;
      continue;
    }
    auto avail = store_.available(stream, it->opts.start);
    if (avail && *avail < it->opts.min_count) {
      ++it;
      continue;
    }
    Parked p = unpark(it);
    reply(p.conn, Op::kReadMessagesResponse, readAnswer(p.request_id, p.stream, p.opts));
  }
}

void Service::tick(Clock::time_point now) {
  for (auto it = parked_.begin(); it != parked_.end();) {
    if (it->deadline > now) {
      ++it;
      continue;
    }
    Parked p = unpark(it);
    auto avail = store_.available(p.stream, p.opts.start);
    reply(p.conn, Op::kReadMessagesResponse,
          !avail ? errorBody(p.request_id, avail.status())
                 : statusBody(p.request_id, StatusCode::kNotEnoughMessages,
                              "only " + std::to_string(*avail) + " of minMessageCount " +
                                  std::to_string(p.opts.min_count) +
                                  " messages arrived within readTimeoutMillis " +
                                  std::to_string(p.opts.timeout_ms)));
  }
}

std::optional<Clock::time_point> Service::nextDeadline() const {
  std::optional<Clock::time_point> d;
  for (const auto& p : parked_) {
    if (!d || p.deadline < *d) d = p.deadline;
  }
  return d;
}

}  // namespace evg::streammgr
