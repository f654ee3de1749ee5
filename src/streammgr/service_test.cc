#include "streammgr/service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace evg::streammgr {
namespace {

using nlohmann::json;

struct Harness {
  StreamStore store{StoreOptions{}, Log()};
  std::map<ConnId, std::string> out;
  std::map<ConnId, std::string> closed;
  std::unique_ptr<Service> svc;
  explicit Harness(bool auth = false) {
    ServiceOptions o;
    o.authenticate = auth;
    o.max_message_bytes = 4096;
    o.max_read_timeout_ms = 60000;
    o.validate_token = [](const std::string& t) -> std::optional<std::string> {
      if (t == "good") return std::string("arn:fn");
      return std::nullopt;
    };
    Callbacks cb;
    cb.send = [this](ConnId c, std::string b) { out[c] += b; };
    cb.close = [this](ConnId c, const std::string& why) { closed[c] = why; };
    svc = std::make_unique<Service>(store, o, cb, Log());
    store.setAppendListener([this](const std::string& s) { svc->onAppended(s); });
  }
  // Pops the frames sent to c (after the version byte, which is checked once).
  std::vector<std::pair<Op, json>> frames(ConnId c) {
    std::string& b = out[c];
    std::vector<std::pair<Op, json>> v;
    FrameDecoder d(1 << 20);
    d.feed(b);
    b.clear();
    while (true) {
      auto f = d.next();
      if (!f || !f->has_value()) break;
      v.emplace_back((*f)->op, *decodeCbor((*f)->payload));
    }
    return v;
  }
  void connect(ConnId c, json extra = json::object()) {
    svc->opened(c);
    json req = {{"requestId", "c1"}, {"protocolVersion", "1.1.0"}, {"sdkVersion", "1.1.1"}};
    req.update(extra);
    svc->data(c, std::string(1, '\1') + encodeFrame(Op::kConnect, encodeCbor(req)));
    ASSERT_EQ(out[c][0], '\1');
    out[c].erase(0, 1);
  }
  json call(ConnId c, Op op, json req) {
    svc->data(c, encodeFrame(op, encodeCbor(req)));
    auto f = frames(c);
    EXPECT_EQ(f.size(), 1u);
    return f.empty() ? json() : f[0].second;
  }
};

json def(const std::string& name) {
  return {{"name", name}, {"strategyOnFull", 0}, {"persistence", 1}};
}

TEST(Service, HandshakeAndCreateAppendRead) {
  Harness h;
  h.connect(1);
  auto hs = h.frames(1);
  ASSERT_EQ(hs.size(), 1u);
  EXPECT_EQ(hs[0].first, Op::kConnectResponse);
  EXPECT_EQ(hs[0].second["status"], 0);
  EXPECT_EQ(hs[0].second["protocolVersion"], "1.1.0");
  EXPECT_EQ(hs[0].second["requestId"], "c1");
  EXPECT_EQ(
      h.call(1, Op::kCreateMessageStream, {{"requestId", "r"}, {"definition", def("s")}})["status"],
      0);
  auto a = h.call(1, Op::kAppendMessage,
                  {{"requestId", "a"}, {"name", "s"}, {"payload", bytesValue("hello")}});
  EXPECT_EQ(a["status"], 0);
  EXPECT_EQ(a["sequenceNumber"], 0);
  auto r = h.call(1, Op::kReadMessages,
                  {{"requestId", "rd"},
                   {"streamName", "s"},
                   {"readMessagesOptions", {{"desiredStartSequenceNumber", 0}}}});
  ASSERT_EQ(r["messages"].size(), 1u);
  EXPECT_EQ(r["messages"][0]["streamName"], "s");
  EXPECT_TRUE(r["messages"][0]["payload"].is_binary());
  auto l = h.call(1, Op::kListStreams, {{"requestId", "l"}});
  EXPECT_EQ(l["streams"], json::array({"s"}));
  auto d = h.call(1, Op::kDescribeMessageStream, {{"requestId", "d"}, {"name", "s"}});
  EXPECT_EQ(d["messageStreamInfo"]["storageStatus"]["newestSequenceNumber"], 0);
  EXPECT_EQ(d["messageStreamInfo"]["definition"]["name"], "s");
}

TEST(Service, ErrorsCarryStatusCodesAndRequestIds) {
  Harness h;
  h.connect(1);
  h.frames(1);
  auto nf = h.call(1, Op::kAppendMessage,
                   {{"requestId", "x"}, {"name", "nope"}, {"payload", bytesValue("p")}});
  EXPECT_EQ(nf["status"], static_cast<int>(StatusCode::kResourceNotFound));
  EXPECT_EQ(nf["requestId"], "x");
  auto bad =
      h.call(1, Op::kCreateMessageStream, {{"requestId", "y"}, {"definition", def("bad/name")}});
  EXPECT_EQ(bad["status"], static_cast<int>(StatusCode::kInvalidRequest));
  EXPECT_NE(bad["errorMessage"].get<std::string>().find("definition.name"), std::string::npos);
  ASSERT_EQ(
      h.call(1, Op::kCreateMessageStream, {{"requestId", "r"}, {"definition", def("s")}})["status"],
      0);
  auto big =
      h.call(1, Op::kAppendMessage,
             {{"requestId", "z"}, {"name", "s"}, {"payload", bytesValue(std::string(5000, 'a'))}});
  EXPECT_EQ(big["status"], static_cast<int>(StatusCode::kRequestPayloadTooLarge));
  auto upd = def("s");
  upd["persistence"] = 0;
  auto un = h.call(1, Op::kUpdateMessageStream, {{"requestId", "u"}, {"definition", upd}});
  EXPECT_EQ(un["status"], static_cast<int>(StatusCode::kUpdateNotAllowed));
  h.svc->data(1, encodeFrame(uint8_t{42}, encodeCbor({{"requestId", "q"}})));
  auto f = h.frames(1);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].first, Op::kUnknownOperationError);
  EXPECT_EQ(f[0].second["status"], static_cast<int>(StatusCode::kUnknownOperation));
  EXPECT_EQ(f[0].second["requestId"], "q");
  auto ne = h.call(1, Op::kReadMessages, {{"requestId", "n"}, {"streamName", "s"}});
  EXPECT_EQ(ne["status"], static_cast<int>(StatusCode::kNotEnoughMessages));
}

TEST(Service, LongPollAnswersOnAppendOrDeadline) {
  Harness h;
  h.connect(1);
  h.connect(2);
  h.frames(1);
  h.frames(2);
  ASSERT_EQ(
      h.call(1, Op::kCreateMessageStream, {{"requestId", "r"}, {"definition", def("s")}})["status"],
      0);
  json opts = {{"minMessageCount", 2}, {"maxMessageCount", 5}, {"readTimeoutMillis", 5000}};
  h.svc->data(2, encodeFrame(Op::kReadMessages, encodeCbor({{"requestId", "lp"},
                                                            {"streamName", "s"},
                                                            {"readMessagesOptions", opts}})));
  h.svc->data(2,
              encodeFrame(Op::kReadMessages,
                          encodeCbor({{"requestId", "lp2"},
                                      {"streamName", "s"},
                                      {"readMessagesOptions",
                                       {{"minMessageCount", 100}, {"readTimeoutMillis", 1000}}}})));
  EXPECT_TRUE(h.frames(2).empty());
  EXPECT_EQ(h.svc->pendingReads(), 2u);
  h.call(1, Op::kAppendMessage, {{"requestId", "a1"}, {"name", "s"}, {"payload", bytesValue("1")}});
  EXPECT_TRUE(h.frames(2).empty());
  h.call(1, Op::kAppendMessage, {{"requestId", "a2"}, {"name", "s"}, {"payload", bytesValue("2")}});
  auto f = h.frames(2);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].second["requestId"], "lp");
  EXPECT_EQ(f[0].second["messages"].size(), 2u);
  h.svc->tick(Clock::now() + std::chrono::seconds(2));
  f = h.frames(2);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].second["requestId"], "lp2");
  EXPECT_EQ(f[0].second["status"], static_cast<int>(StatusCode::kNotEnoughMessages));
  EXPECT_EQ(h.svc->pendingReads(), 0u);
}

TEST(Service, AuthenticationRefusesBadTokens) {
  Harness h(true);
  h.connect(1, {{"authToken", "bad"}});
  auto f = h.frames(1);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].second["status"], static_cast<int>(StatusCode::kUnauthorized));
  EXPECT_EQ(h.closed.count(1), 1u);
  h.connect(2);
  EXPECT_EQ(h.frames(2)[0].second["status"], static_cast<int>(StatusCode::kUnauthorized));
  h.connect(3, {{"authToken", "good"}});
  EXPECT_EQ(h.frames(3)[0].second["status"], 0);
  EXPECT_EQ(h.closed.count(3), 0u);
}

TEST(Service, FlushOnWriteAnswersAfterOneFdatasyncPerBatch) {
  char tmpl[] = "/tmp/evg_svc_XXXXXX";
  std::string root = ::mkdtemp(tmpl);
  StoreOptions so;
  so.root_dir = root;
  StreamStore store(so, Log());
  std::string out;
  std::vector<std::pair<std::vector<int>, std::function<void()>>> flushes;
  Callbacks cb;
  cb.send = [&](ConnId, std::string b) { out += b; };
  cb.close = [](ConnId, const std::string&) {};
  cb.flush = [&](std::vector<int> fds, std::function<void()> done) {
    flushes.emplace_back(std::move(fds), std::move(done));
  };
  ServiceOptions o;
  o.authenticate = false;
  Service svc(store, o, cb, Log());
  svc.opened(1);
  svc.data(1, std::string(1, '\1') +
                  encodeFrame(Op::kConnect,
                              encodeCbor({{"requestId", "c"}, {"protocolVersion", "1.1.0"}})));
  json d = {{"name", "f"}, {"strategyOnFull", 0}, {"flushOnWrite", true}};
  svc.data(1, encodeFrame(Op::kCreateMessageStream,
                          encodeCbor({{"requestId", "cr"}, {"definition", d}})));
  out.clear();
  std::string batch;
  for (int i = 0; i < 5; ++i) {
    batch += encodeFrame(Op::kAppendMessage, encodeCbor({{"requestId", "a" + std::to_string(i)},
                                                         {"name", "f"},
                                                         {"payload", bytesValue("x")}}));
  }
  svc.data(1, batch);
  EXPECT_TRUE(out.empty());  // nothing answered before the data is durable
  ASSERT_EQ(flushes.size(), 1u);
  EXPECT_EQ(flushes[0].first.size(), 1u);  // one segment, one fdatasync for 5 appends
  for (int fd : flushes[0].first) {
    EXPECT_EQ(::fdatasync(fd), 0);
    ::close(fd);
  }
  flushes[0].second();
  FrameDecoder dec(1 << 20);
  dec.feed(out);
  int answers = 0;
  while (true) {
    auto f = dec.next();
    if (!f || !f->has_value()) break;
    EXPECT_EQ((*decodeCbor((*f)->payload))["status"], 0);
    ++answers;
  }
  EXPECT_EQ(answers, 5);
  std::filesystem::remove_all(root);
}

TEST(Service, ProtocolErrorsCloseTheConnection) {
  Harness h;
  h.svc->opened(1);
  h.svc->data(1, std::string("\2"));
  EXPECT_EQ(h.closed.count(1), 1u);
  Harness h2;
  h2.svc->opened(1);
  h2.svc->data(1,
               std::string("\1") + encodeFrame(Op::kListStreams, encodeCbor({{"requestId", "x"}})));
  EXPECT_EQ(h2.closed.count(1), 1u);
  Harness h3;
  h3.connect(1);
  h3.svc->data(1, std::string("\x7f\xff\xff\xff\x04", 5));
  EXPECT_EQ(h3.closed.count(1), 1u);
  Harness h4;
  h4.connect(1, {{"protocolVersion", "9.9.9"}});
  EXPECT_EQ(h4.frames(1)[0].second["status"],
            static_cast<int>(StatusCode::kUnsupportedProtocolVersion));
}

}  // namespace
}  // namespace evg::streammgr
