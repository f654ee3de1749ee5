#include "broker/tls_engine.h"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

namespace evg::broker {

namespace {

// "what: OpenSSL's reason" for a packed error code (just `what` for 0).
std::string sslErrorText(const char* what, unsigned long e) {  // NOLINT(runtime/int): OpenSSL
  if (e == 0) return what;
  const char* reason = ERR_reason_error_string(e);
  char buf[256];
  if (reason == nullptr) {
    ERR_error_string_n(e, buf, sizeof buf);
    reason = buf;
  }
  return std::string(what) + ": " + reason;
}

std::string lastSslError(const char* what) {
  std::string s = sslErrorText(what, ERR_peek_last_error());
  ERR_clear_error();
  return s;
}

}  // namespace

// The engine (and the verify callback of its handshake) being driven: set, for the length of one
// call into OpenSSL, as the data of the BIO its session shares with the others, so the BIO's
// read/write callbacks and the verify callback know whose input, output and callback to use.
// Nests (the previous one is restored on return). No state outside the BIO.
class TlsEngine::Call {
 public:
  explicit Call(TlsEngine* e, const Verify* verify = nullptr)
      : bio_(SSL_get_rbio(e->ssl_)),
        prev_(bio_ != nullptr ? BIO_get_data(bio_) : nullptr),
        engine_(e),
        verify_(verify) {
    if (bio_ != nullptr) BIO_set_data(bio_, this);
    ERR_clear_error();
  }
  ~Call() {
    if (bio_ != nullptr) BIO_set_data(bio_, prev_);
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  // The call driving a session on `b` right now, or null.
  static Call* of(BIO* b) { return b != nullptr ? static_cast<Call*>(BIO_get_data(b)) : nullptr; }
  TlsEngine* engine() const { return engine_; }
  const Verify* verify() const { return verify_; }

 private:
  BIO* bio_;
  void* prev_;
  TlsEngine* engine_;
  const Verify* verify_;
};

BIO_METHOD* TlsBio::method() {
  static BIO_METHOD* const m = [] {
    BIO_METHOD* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "evergreen-tls");
    if (bm == nullptr) return bm;
    BIO_meth_set_read(bm, &TlsEngine::bioRead);
    BIO_meth_set_write(bm, &TlsEngine::bioWrite);
    BIO_meth_set_ctrl(bm, &TlsEngine::bioCtrl);
    BIO_meth_set_create(bm, [](BIO* b) {
      BIO_set_init(b, 1);
      return 1;
    });
    return bm;
  }();
  return m;
}

TlsBio::TlsBio() : bio_(method() != nullptr ? BIO_new(method()) : nullptr) {}

TlsBio::~TlsBio() {
  if (bio_ != nullptr) BIO_free(bio_);  // sessions still using it hold their own references
}

Result<TlsEngine> TlsEngine::create(SSL_CTX* ctx, const TlsBio& bio, bool server) {
  if (ctx == nullptr || bio.get() == nullptr) return Status::internal("TLS: no context");
  TlsEngine e;
  ERR_clear_error();
  e.ssl_ = SSL_new(ctx);
  if (e.ssl_ == nullptr) return Status::internal(lastSslError("SSL_new"));
  if (BIO_up_ref(bio.get()) != 1) return Status::internal(lastSslError("BIO_up_ref"));
  SSL_set_bio(e.ssl_, bio.get(), bio.get());  // the session owns that reference now
  // Record buffers are freed whenever they are empty: an idle session keeps none.
  SSL_set_mode(e.ssl_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (server) {
    SSL_set_accept_state(e.ssl_);
  } else {
    SSL_set_connect_state(e.ssl_);
  }
  return e;
}

TlsEngine::TlsEngine(TlsEngine&& o) noexcept
    : ssl_(std::exchange(o.ssl_, nullptr)),
      in_(std::exchange(o.in_, {})),
      out_(std::move(o.out_)),
      error_code_(o.error_code_),
      error_what_(o.error_what_),
      established_(o.established_) {}

TlsEngine& TlsEngine::operator=(TlsEngine&& o) noexcept {
  if (this != &o) {
    if (ssl_ != nullptr) SSL_free(ssl_);
    ssl_ = std::exchange(o.ssl_, nullptr);
    in_ = std::exchange(o.in_, {});
    out_ = std::move(o.out_);
    error_code_ = o.error_code_;
    error_what_ = o.error_what_;
    established_ = o.established_;
  }
  return *this;
}

TlsEngine::~TlsEngine() {
  if (ssl_ != nullptr) SSL_free(ssl_);  // drops the session's references to the shared BIO
}

int TlsEngine::verifyTrampoline(int preverified, X509_STORE_CTX* ctx) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  Call* call = ssl != nullptr ? Call::of(SSL_get_rbio(ssl)) : nullptr;
  if (call == nullptr || call->verify() == nullptr || !*call->verify()) return preverified;
  if (ssl != call->engine()->ssl_) return preverified;
  return (*call->verify())(preverified != 0, ctx) ? 1 : 0;
}

TlsEngine::State TlsEngine::handshake(const Verify& verify) {
  if (established_) return State::kDone;
  if (verify) SSL_set_verify(ssl_, SSL_get_verify_mode(ssl_), &verifyTrampoline);
  int r;
  {
    Call call(this, &verify);
    r = SSL_do_handshake(ssl_);
    if (r == 1) {
      established_ = true;
      return State::kDone;
    }
  }
  State s = classify(r);
  return s == State::kClosed ? State::kFailed : s;
}

int TlsEngine::readSome(char* scratch, size_t cap) {
  Call call(this);
  return SSL_read(ssl_, scratch, static_cast<int>(std::min<size_t>(cap, 1 << 30)));
}

void TlsEngine::fail(What what) {
  unsigned long e = ERR_peek_last_error();  // NOLINT(runtime/int): OpenSSL API
  error_code_ = e <= std::numeric_limits<uint32_t>::max() ? static_cast<uint32_t>(e) : 0;
  error_what_ = what;
  ERR_clear_error();
}

// Right after the call that returned `ret`: SSL_get_error reads the shared BIO's retry flags,
// which the next call into OpenSSL on this thread overwrites.
TlsEngine::State TlsEngine::classify(int ret) {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      return State::kNeedInput;
    case SSL_ERROR_ZERO_RETURN:
      error_code_ = 0;
      error_what_ = What::kClosed;
      return State::kClosed;
    case SSL_ERROR_WANT_WRITE:  // our BIO never refuses a write
    case SSL_ERROR_SYSCALL:
      fail(What::kIo);
      return State::kFailed;
    default:
      fail(What::kTls);
      return State::kFailed;
  }
}

std::string TlsEngine::error() const {
  const char* what = "";
  switch (error_what_) {
    case What::kNone:
      return {};
    case What::kClosed:
      return "peer sent close_notify";
    case What::kIo:
      what = "TLS I/O error";
      break;
    case What::kTls:
      what = "TLS error";
      break;
  }
  return sslErrorText(what, error_code_);
}

Status TlsEngine::write(std::string_view plain) {
  if (!established_) return Status::conflict("TLS: write before the handshake");
  while (!plain.empty()) {
    const int chunk = static_cast<int>(std::min<size_t>(plain.size(), 1 << 30));
    int n;
    {
      Call call(this);
      n = SSL_write(ssl_, plain.data(), chunk);
    }
    if (n <= 0) {
      classify(n);
      return Status::io(error());
    }
    plain.remove_prefix(static_cast<size_t>(n));
  }
  return Status::ok();
}

void TlsEngine::shutdown() {
  Call call(this);
  SSL_shutdown(ssl_);
}

void TlsEngine::takeOutput(std::string& into) {
  if (into.empty()) {
    into.swap(out_);
  } else {
    into += out_;
  }
  std::string().swap(out_);
}

int TlsEngine::bioRead(BIO* b, char* buf, int len) {
  BIO_clear_retry_flags(b);
  Call* call = Call::of(b);
  if (call == nullptr) return -1;  // not driven through an engine: an I/O error
  TlsEngine* self = call->engine();
  if (self->in_.empty()) {
    BIO_set_retry_read(b);  // SSL_ERROR_WANT_READ: wait for the socket
    return -1;
  }
  const size_t n = std::min(self->in_.size(), static_cast<size_t>(std::max(len, 0)));
  std::memcpy(buf, self->in_.data(), n);
  self->in_.remove_prefix(n);
  return static_cast<int>(n);
}

int TlsEngine::bioWrite(BIO* b, const char* buf, int len) {
  BIO_clear_retry_flags(b);
  Call* call = Call::of(b);
  if (call == nullptr) return -1;
  if (len <= 0) return 0;
  call->engine()->out_.append(buf, static_cast<size_t>(len));
  return len;
}

long TlsEngine::bioCtrl(BIO*, int cmd, long, void*) {  // NOLINT(runtime/int): OpenSSL API
  switch (cmd) {
    case BIO_CTRL_FLUSH:  // output is taken by takeOutput()
    case BIO_CTRL_DUP:
      return 1;
    default:
      return 0;
  }
}

}  // namespace evg::broker
