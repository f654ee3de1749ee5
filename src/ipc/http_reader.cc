#include "ipc/http_reader.h"

#include <boost/beast/http.hpp>
#include <cctype>
#include <limits>
#include <optional>

namespace evg::ipc {

namespace beast = boost::beast;
namespace http = beast::http;

struct HttpRequestReader::Parser {
  http::request_parser<http::string_body> p;
};

HttpRequestReader::HttpRequestReader(HttpReaderLimits limits) : limits_(limits) { reset(); }

HttpRequestReader::~HttpRequestReader() = default;

void HttpRequestReader::reset() {
  parser_ = std::make_unique<Parser>();
  parser_->p.body_limit(limits_.max_body_bytes);
  parser_->p.header_limit(static_cast<uint32_t>(
      std::min<size_t>(limits_.max_header_bytes, std::numeric_limits<uint32_t>::max())));
  parser_->p.eager(true);
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
  buf_.append(bytes);
  parse();
  return state_;
}

void HttpRequestReader::parse() {
  while (state_ == State::kEmpty || state_ == State::kHeader || state_ == State::kBody) {
    if (buf_.empty()) return;
    if (state_ == State::kEmpty) state_ = State::kHeader;
    beast::error_code ec;
    size_t n = parser_->p.put(boost::asio::buffer(buf_.data(), buf_.size()), ec);
    buf_.erase(0, n);
    if (ec == http::error::need_more) {
      if (buf_.size() > limits_.max_header_bytes && !parser_->p.is_header_done()) {
        return fail(
            431, "request header exceeds " + std::to_string(limits_.max_header_bytes) + " bytes");
      }
      if (parser_->p.is_header_done()) state_ = State::kBody;
      if (n == 0) return;
      continue;
    }
    if (ec == http::error::body_limit) {
      return fail(413, "request body exceeds " + std::to_string(limits_.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return fail(431,
                  "request header exceeds " + std::to_string(limits_.max_header_bytes) + " bytes");
    }
    if (ec) return fail(400, "malformed HTTP request: " + ec.message());
    if (parser_->p.is_done()) {
      state_ = State::kDone;
      keep_alive_ = parser_->p.get().keep_alive();
      return;
    }
    if (parser_->p.is_header_done()) state_ = State::kBody;
    if (n == 0) return;
  }
}

HttpRequest HttpRequestReader::take() {
  HttpRequest req;
  if (state_ != State::kDone) return req;
  auto msg = parser_->p.release();
  req.method = std::string(msg.method_string());
  std::string target(msg.target());
  req.path = std::string(target.substr(0, target.find('?')));
  for (const auto& f : msg) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req.headers[name] = std::string(f.value());
  }
  req.body = std::move(msg.body());
  return req;
}

HttpRequestReader::State HttpRequestReader::next() {
  if (state_ == State::kFailed) return state_;
  reset();
  parse();
  return state_;
}

}  // namespace evg::ipc
