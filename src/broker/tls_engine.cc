#include "broker/tls_engine.h"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>
#include <cstring>

namespace evg::broker {

namespace {

std::string lastSslError(const char* what) {
  unsigned long e = ERR_peek_last_error();  // NOLINT(runtime/int): OpenSSL API
  if (e == 0) return what;
  const char* reason = ERR_reason_error_string(e);
  char buf[256];
  if (reason == nullptr) {
    ERR_error_string_n(e, buf, sizeof buf);
    reason = buf;
  }
  std::string s = std::string(what) + ": " + reason;
  ERR_clear_error();
  return s;
}

}  // namespace

TlsBioMethod::TlsBioMethod()
    : method_(BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "evergreen-tls")) {
  if (method_ == nullptr) return;
  BIO_meth_set_read(method_, &TlsEngine::bioRead);
  BIO_meth_set_write(method_, &TlsEngine::bioWrite);
  BIO_meth_set_ctrl(method_, &TlsEngine::bioCtrl);
  BIO_meth_set_create(method_, [](BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  });
}

TlsBioMethod::~TlsBioMethod() {
  if (method_ != nullptr) BIO_meth_free(method_);
}

Result<std::unique_ptr<TlsEngine>> TlsEngine::create(SSL_CTX* ctx,
                                                     std::shared_ptr<const TlsBioMethod> bio,
                                                     bool server) {
  if (ctx == nullptr || !bio || bio->get() == nullptr) return Status::internal("TLS: no context");
  std::unique_ptr<TlsEngine> e(new TlsEngine());
  e->bio_method_ = std::move(bio);
  ERR_clear_error();
  e->ssl_ = SSL_new(ctx);
  if (e->ssl_ == nullptr) return Status::internal(lastSslError("SSL_new"));
  BIO* b = BIO_new(e->bio_method_->get());
  if (b == nullptr) return Status::internal(lastSslError("BIO_new"));
  BIO_set_data(b, e.get());
  SSL_set_bio(e->ssl_, b, b);  // the SSL owns the BIO now
  SSL_set_app_data(e->ssl_, e.get());
  // Record buffers are freed whenever they are empty: an idle session keeps none.
  SSL_set_mode(e->ssl_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (server) {
    SSL_set_accept_state(e->ssl_);
  } else {
    SSL_set_connect_state(e->ssl_);
  }
  return e;
}

TlsEngine::~TlsEngine() {
  if (ssl_ != nullptr) SSL_free(ssl_);
}

void TlsEngine::setVerify(Verify v) {
  verify_ = std::move(v);
  SSL_set_verify(ssl_, SSL_get_verify_mode(ssl_), verify_ ? &verifyTrampoline : nullptr);
}

int TlsEngine::verifyTrampoline(int preverified, X509_STORE_CTX* ctx) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* self = ssl != nullptr ? static_cast<TlsEngine*>(SSL_get_app_data(ssl)) : nullptr;
  if (self == nullptr || !self->verify_) return preverified;
  return self->verify_(preverified != 0, ctx) ? 1 : 0;
}

TlsEngine::State TlsEngine::handshake() {
  if (established_) return State::kDone;
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    established_ = true;
    Verify().swap(verify_);  // the callback's captures are not needed any more
    return State::kDone;
  }
  State s = classify(r);
  return s == State::kClosed ? State::kFailed : s;
}

int TlsEngine::readSome(char* scratch, size_t cap) {
  ERR_clear_error();
  return SSL_read(ssl_, scratch, static_cast<int>(std::min<size_t>(cap, 1 << 30)));
}

TlsEngine::State TlsEngine::classify(int ret) {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      return State::kNeedInput;
    case SSL_ERROR_ZERO_RETURN:
      error_ = "peer sent close_notify";
      return State::kClosed;
    case SSL_ERROR_WANT_WRITE:  // our BIO never refuses a write
    case SSL_ERROR_SYSCALL:
      error_ = lastSslError("TLS I/O error");
      return State::kFailed;
    default:
      error_ = lastSslError("TLS error");
      return State::kFailed;
  }
}

Status TlsEngine::write(std::string_view plain) {
  if (!established_) return Status::conflict("TLS: write before the handshake");
  while (!plain.empty()) {
    ERR_clear_error();
    const int chunk = static_cast<int>(std::min<size_t>(plain.size(), 1 << 30));
    int n = SSL_write(ssl_, plain.data(), chunk);
    if (n <= 0) {
      classify(n);
      return Status::io(error_);
    }
    plain.remove_prefix(static_cast<size_t>(n));
  }
  return Status::ok();
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
  auto* self = static_cast<TlsEngine*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
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
  auto* self = static_cast<TlsEngine*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  if (len <= 0) return 0;
  self->out_.append(buf, static_cast<size_t>(len));
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
