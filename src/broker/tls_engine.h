#pragma once

// TlsEngine: one TLS session over OpenSSL, sans-I/O. Ciphertext goes in through input(), comes
// out through takeOutput(); plaintext comes out of read() and goes in through write(). No socket,
// no buffer of its own: a BIO of ours (TlsBioMethod) reads straight from the span given to
// input() and appends to one std::string that is empty whenever the connection is idle.
//
// Why not Asio's ssl::stream: it keeps, per connection, two 17 KB staging buffers and a BIO
// pair with two 17 KB buffers (~68 KB fixed) whether the device talks or not. Here an idle
// connection holds only OpenSSL's session state (its record buffers are released when empty,
// SSL_MODE_RELEASE_BUFFERS). src/broker/README.md "Memory per connection".
//
//   auto bio = std::make_shared<TlsBioMethod>();   // one per broker
//   auto e = TlsEngine::create(ctx, bio, /*server=*/true);
//   e->input(bytes_from_socket);
//   if (!e->established()) state = e->handshake();   // kDone once, then read()
//   if (e->established()) state = e->read(scratch, n, sink);   // all input consumed
//   e->write(plain);  e->takeOutput(wire);     // wire -> socket
//
// Everything runs on one thread (the broker's loop); OpenSSL's error queue is cleared before
// each call into it.

#include <openssl/ssl.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace evg::broker {

// The BIO method every TlsEngine of one owner uses (BIO_meth_new once, freed with the owner).
class TlsBioMethod {
 public:
  TlsBioMethod();
  ~TlsBioMethod();
  TlsBioMethod(const TlsBioMethod&) = delete;
  TlsBioMethod& operator=(const TlsBioMethod&) = delete;
  BIO_METHOD* get() const { return method_; }

 private:
  BIO_METHOD* method_;
};

class TlsEngine {
 public:
  enum class State {
    kNeedInput,  // everything given to input() is consumed; waiting for more bytes
    kDone,       // handshake(): the session is established
    kClosed,     // the peer sent close_notify
    kFailed,     // protocol error, failed verification, ...: error() says which
  };
  // Called for each certificate of the peer's chain (OpenSSL's verify callback).
  using Verify = std::function<bool(bool preverified, X509_STORE_CTX* ctx)>;

  // A session on `ctx` (which must outlive it). Status::internal when OpenSSL cannot allocate.
  // The engine keeps `bio` alive (OpenSSL frees the BIO with the session, through the method).
  static Result<std::unique_ptr<TlsEngine>> create(SSL_CTX* ctx,
                                                   std::shared_ptr<const TlsBioMethod> bio,
                                                   bool server);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  // Replaces the context's verify callback for this session (the mode stays the context's).
  // Released once the handshake is done.
  void setVerify(Verify v);

  // Ciphertext received; `cipher` must stay valid until handshake()/read() return kNeedInput.
  void input(std::string_view cipher) { in_ = cipher; }
  size_t inputLeft() const { return in_.size(); }

  // Advances the handshake with the input given: kNeedInput, kDone or kFailed.
  State handshake();
  bool established() const { return established_; }

  // Decrypts everything given to input(), passing each plaintext chunk to sink(string_view),
  // which returns false to stop early (the connection is closing: the rest is dropped). Returns
  // kNeedInput (all consumed, or stopped), kClosed or kFailed.
  template <typename Sink>
  State read(char* scratch, size_t cap, Sink&& sink) {
    for (;;) {
      int n = readSome(scratch, cap);
      if (n > 0) {
        if (!sink(std::string_view(scratch, static_cast<size_t>(n)))) {
          in_ = {};
          return State::kNeedInput;
        }
        continue;
      }
      return classify(n);
    }
  }

  // Encrypts `plain` into the output. Status::io naming OpenSSL's error on failure.
  Status write(std::string_view plain);

  bool hasOutput() const { return !out_.empty(); }
  // Moves the ciphertext produced so far into `into` (which should be empty), leaving the
  // output empty.
  void takeOutput(std::string& into);

  // The last failure: OpenSSL's reason ("certificate verify failed", "wrong version number",
  // "unexpected eof while reading", ...).
  const std::string& error() const { return error_; }
  SSL* ssl() const { return ssl_; }

 private:
  TlsEngine() = default;
  int readSome(char* scratch, size_t cap);
  State classify(int ret);
  static int bioRead(BIO* b, char* buf, int len);
  static int bioWrite(BIO* b, const char* buf, int len);
  static long bioCtrl(BIO* b, int cmd, long num, void* ptr);  // NOLINT(runtime/int): OpenSSL API
  static int verifyTrampoline(int preverified, X509_STORE_CTX* ctx);
  friend class TlsBioMethod;

  std::shared_ptr<const TlsBioMethod> bio_method_;
  SSL* ssl_ = nullptr;
  std::string_view in_;
  std::string out_;
  std::string error_;
  Verify verify_;
  bool established_ = false;
};

}  // namespace evg::broker
