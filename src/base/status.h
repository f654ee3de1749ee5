#pragma once
// Status and Result<T>: the error model at every module boundary (no exceptions in our code).
// One closed enum of error classes; wire codes (MQTT return codes, HTTP statuses, shadow/secret
// error bodies) are mapped from these in exactly one place per protocol.

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace evg {

enum class Code {
  kOk = 0,
  kInvalid,       // malformed input, bad config, protocol violation
  kNotFound,      // unknown id/name/file
  kUnauthorized,  // missing/unknown credentials or token
  kForbidden,     // known caller, not allowed
  kTimeout,
  kRetry,  // transient; try again (queue full, throttled)
  kBusy,   // resource exhausted (connection limit, ...)
  kUnsupported,
  kIo,          // OS / filesystem / socket failure
  kCorruption,  // stored data unreadable
  kConflict,    // version conflict, already exists
  kTooLarge,    // payload/document over a configured limit
  kInternal,    // bug; should not happen
};

std::string_view codeName(Code c);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  static Status invalid(std::string m) { return {Code::kInvalid, std::move(m)}; }
  static Status notFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status unauthorized(std::string m) { return {Code::kUnauthorized, std::move(m)}; }
  static Status forbidden(std::string m) { return {Code::kForbidden, std::move(m)}; }
  static Status timeout(std::string m) { return {Code::kTimeout, std::move(m)}; }
  static Status retry(std::string m) { return {Code::kRetry, std::move(m)}; }
  static Status busy(std::string m) { return {Code::kBusy, std::move(m)}; }
  static Status unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
  static Status io(std::string m) { return {Code::kIo, std::move(m)}; }
  static Status corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
  static Status tooLarge(std::string m) { return {Code::kTooLarge, std::move(m)}; }
  static Status internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool isOk() const { return code_ == Code::kOk; }
  explicit operator bool() const { return isOk(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "Invalid: <message>" (or "OK").
  std::string toString() const;

  // Prefix the message with context: "coreThing: " + message.
  Status withContext(std::string_view prefix) const {
    if (isOk()) return *this;
    return Status(code_, std::string(prefix) + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T>: a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).isOk());
  }

  bool isOk() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return isOk(); }
  const Status& status() const {
    static const Status kOk;
    return isOk() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace evg

// Early-return helpers. The temporary's name is unique per line so nested uses (a lambda inside
// another EVG_RETURN_IF_ERROR) do not shadow each other.
#define EVG_STATUS_CONCAT_INNER_(a, b) a##b
#define EVG_STATUS_CONCAT_(a, b) EVG_STATUS_CONCAT_INNER_(a, b)
#define EVG_RETURN_IF_ERROR(expr) \
  EVG_RETURN_IF_ERROR_IMPL_(EVG_STATUS_CONCAT_(evg_status_, __LINE__), expr)
#define EVG_RETURN_IF_ERROR_IMPL_(var, expr) \
  do {                                       \
    ::evg::Status var = (expr);              \
    if (!var.isOk()) return var;             \
  } while (0)
