#include "ipc/http_reader.h"

#include <algorithm>
#include <boost/beast/http.hpp>
#include <cctype>
#include <limits>
#include <optional>

namespace evg::ipc {

namespace beast = boost::beast;
namespace http = beast::http;

// Beast's parser with our own callbacks: the request's method, path, headers (lower-case names)
// and body go straight into the HttpRequest, not through Beast's field container first.
struct HttpRequestReader::Parser : http::basic_parser<true> {
  explicit Parser(size_t max_body) : max_body_bytes(max_body) {}
  HttpRequest req;
  size_t max_body_bytes;

  void on_request_impl(http::verb, beast::string_view method, beast::string_view target, int,
                       beast::error_code&) override {
    req.method.assign(method.data(), method.size());
    const std::string_view t(target.data(), target.size());
    req.path.assign(t.substr(0, t.find('?')));
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {}
  void on_field_impl(http::field, beast::string_view name, beast::string_view value,
                     beast::error_code&) override {
    std::string key(name.data(), name.size());
    for (char& c : key) {
      if (c >= 'A' && c <= 'Z')
        c = static_cast<char>(c - 'A' + 'a');  // field names are ASCII tokens
    }
    req.headers[std::move(key)].assign(value.data(), value.size());  // a repeated name: last wins
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    if (length)
      req.body.reserve(static_cast<size_t>(std::min<std::uint64_t>(*length, max_body_bytes)));
  }
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    req.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code&) override {
    req.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}
};

HttpRequestReader::HttpRequestReader(HttpReaderLimits limits) : limits_(limits) { reset(); }

HttpRequestReader::~HttpRequestReader() = default;

void HttpRequestReader::reset() {
  parser_ = std::make_unique<Parser>(limits_.max_body_bytes);
  parser_->body_limit(limits_.max_body_bytes);
  parser_->header_limit(static_cast<uint32_t>(
      std::min<size_t>(limits_.max_header_bytes, std::numeric_limits<uint32_t>::max())));
  parser_->eager(true);
  state_ = State::kEmpty;
}

void HttpRequestReader::fail(int status, std::string message) {
  state_ = State::kFailed;
  keep_alive_ = false;
  failure_ = errorResponse(Status::invalid(std::move(message)));
  failure_.status = status;
  if (status == 413) failure_.body = errorResponse(Status::tooLarge(message)).body;
}

HttpRequestReader::State HttpRequestReader::feed(std::string_view bytes) {
  if (!buf_.empty()) {
    buf_.append(bytes);
    parse();
    return state_;
  }
  // Nothing buffered (the usual case): parse the new bytes where they are; keep only the rest.
  const size_t used = consume(bytes);
  if (used < bytes.size()) buf_.assign(bytes.substr(used));
  return state_;
}

void HttpRequestReader::parse() { buf_.erase(0, consume(buf_)); }

size_t HttpRequestReader::consume(std::string_view in) {
  size_t off = 0;
  while (state_ == State::kEmpty || state_ == State::kHeader || state_ == State::kBody) {
    if (off == in.size()) return off;
    if (state_ == State::kEmpty) state_ = State::kHeader;
    beast::error_code ec;
    const size_t n = parser_->put(boost::asio::buffer(in.data() + off, in.size() - off), ec);
    off += n;
    if (ec == http::error::need_more) {
      if (in.size() - off > limits_.max_header_bytes && !parser_->is_header_done()) {
        fail(431, "request header exceeds " + std::to_string(limits_.max_header_bytes) + " bytes");
        return off;
      }
      if (parser_->is_header_done()) state_ = State::kBody;
      if (n == 0) return off;
      continue;
    }
    if (ec == http::error::body_limit) {
      fail(413, "request body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes");
      return off;
    }
    if (ec == http::error::header_limit) {
      fail(431, "request header exceeds " + std::to_string(limits_.max_header_bytes) + " bytes");
      return off;
    }
    if (ec) {
      fail(400, "malformed HTTP request: " + ec.message());
      return off;
    }
    if (parser_->is_done()) {
      state_ = State::kDone;
      keep_alive_ = parser_->keep_alive();
      return off;
    }
    if (parser_->is_header_done()) state_ = State::kBody;
    if (n == 0) return off;
  }
  return off;
}

HttpRequest HttpRequestReader::take() {
  if (state_ != State::kDone) return HttpRequest{};
  return std::move(parser_->req);
}

HttpRequestReader::State HttpRequestReader::next() {
  if (state_ == State::kFailed) return state_;
  reset();
  parse();
  return state_;
}

}  // namespace evg::ipc
