#pragma once
// HttpRequestReader: the sans-I/O HTTP/1.1 request parser between the socket and IpcCore. The
// server feeds it whatever bytes arrive; it reports how far the current request got (nothing yet,
// header, body, complete, failed), hands out the complete request as an HttpRequest, and for a
// malformed or oversized request the answer to send before closing:
//   400 {"errorType":"Invalid","errorMessage":"malformed HTTP request: bad method"}
//   413 body over max_body_bytes, 431 header over max_header_bytes.
// Bytes after a complete request (pipelining) stay buffered for next(). Boost.Beast's
// basic_parser does the parsing, with callbacks that fill the HttpRequest directly (no field
// container in between); bytes are parsed where they arrive and only an incomplete remainder is
// buffered. This class adds the buffering and the error answers, so the
// whole path from bytes to IpcCore::handle can be unit-tested and fuzzed without sockets.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "ipc/http_types.h"

namespace evg::ipc {

struct HttpReaderLimits {
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 6 * 1024 * 1024;
};

class HttpRequestReader {
 public:
  enum class State {
    kEmpty,   // no byte of the next request yet
    kHeader,  // part of the header received
    kBody,    // header complete, body incomplete
    kDone,    // a complete request: take() it
    kFailed,  // malformed/oversized: send failure() and close
  };

  explicit HttpRequestReader(HttpReaderLimits limits);
  ~HttpRequestReader();
  HttpRequestReader(const HttpRequestReader&) = delete;
  HttpRequestReader& operator=(const HttpRequestReader&) = delete;

  // Appends bytes and parses as far as possible. Bytes fed in kDone/kFailed are only buffered.
  State feed(std::string_view bytes);
  State state() const { return state_; }

  // kDone: the request (once) and whether the connection may be kept alive after the answer.
  HttpRequest take();
  bool keepAlive() const { return keep_alive_; }
  // kFailed: the error answer (JSON body naming the problem).
  const HttpResponse& failure() const { return failure_; }

  // After take(): starts the next request from the buffered bytes; returns the new state.
  State next();
  size_t buffered() const { return buf_.size(); }

 private:
  struct Parser;
  void reset();
  void parse();
  // Parses from `in`; returns how many bytes the parser used (the rest is the caller's to keep).
  size_t consume(std::string_view in);
  void fail(int status, std::string message);

  HttpReaderLimits limits_;
  std::unique_ptr<Parser> parser_;
  std::string buf_;
  State state_ = State::kEmpty;
  bool keep_alive_ = true;
  HttpResponse failure_;
};

}  // namespace evg::ipc
