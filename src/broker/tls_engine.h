#pragma once

// TlsEngine: one TLS session over OpenSSL, sans-I/O. Ciphertext goes in through input(), comes
// out through takeOutput(); plaintext comes out of read() and goes in through write(). No socket,
// no buffer of its own: a BIO of ours reads straight from the span given to input() and appends
// to one std::string that is empty whenever the connection is idle.
//
// Why not Asio's ssl::stream: it keeps, per connection, two 17 KB staging buffers and a BIO
// pair with two 17 KB buffers (~68 KB fixed) whether the device talks or not. Here an idle
// connection holds only OpenSSL's session state (its record buffers are released when empty,
// SSL_MODE_RELEASE_BUFFERS). src/broker/README.md "Memory per connection".
//
// Nothing per session is registered with OpenSSL: every session of one thread shares one BIO
// (TlsBio), whose read/write/verify callbacks find the engine being driven through the BIO's data
// pointer, set for the length of each call into OpenSSL. No BIO (~200 B with its lock) and no
// ex_data (~100 B) per connection, and the engine is a plain movable value.
//
//   TlsBio bio;                                   // one per thread (the broker's loop)
//   auto e = TlsEngine::create(ctx, bio, /*server=*/true);
//   e->input(bytes_from_socket);
//   if (!e->established()) state = e->handshake(verify);   // kDone once, then read()
//   if (e->established()) state = e->read(scratch, n, sink);   // all input consumed
//   e->write(plain);  e->takeOutput(wire);     // wire -> socket
//
// Everything runs on one thread; OpenSSL's error queue is cleared before each call into it. Drive
// a session only through these calls (the BIO has no engine outside them).

#include <openssl/ssl.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace evg::broker {

// The BIO every TlsEngine created with it uses (one reference per session; the BIO lives until
// the last of them and this are gone). Engines created with one TlsBio must all be driven from
// one thread at a time: the BIO's retry flags are read right after each call into OpenSSL.
class TlsBio {
 public:
  TlsBio();
  ~TlsBio();
  TlsBio(const TlsBio&) = delete;
  TlsBio& operator=(const TlsBio&) = delete;
  BIO* get() const { return bio_; }

 private:
  static BIO_METHOD* method();  // created once, never freed: a BIO may outlive every TlsBio
  BIO* bio_;
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

  // A session on `ctx` (which must outlive it) sharing `bio`. Status::internal when OpenSSL
  // cannot allocate.
  static Result<TlsEngine> create(SSL_CTX* ctx, const TlsBio& bio, bool server);
  TlsEngine(TlsEngine&& o) noexcept;
  TlsEngine& operator=(TlsEngine&& o) noexcept;
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  // Ciphertext received; `cipher` must stay valid until handshake()/read() return kNeedInput.
  void input(std::string_view cipher) { in_ = cipher; }
  size_t inputLeft() const { return in_.size(); }

  // Advances the handshake with the input given: kNeedInput, kDone or kFailed. `verify`, when
  // set, replaces the context's verify callback during this call (the mode stays the context's);
  // it is not kept.
  State handshake(const Verify& verify = nullptr);
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
  // Queues a close_notify alert in the output (SSL_shutdown).
  void shutdown();

  bool hasOutput() const { return !out_.empty(); }
  // Moves the ciphertext produced so far into `into` (which should be empty), leaving the
  // output empty.
  void takeOutput(std::string& into);

  // The last failure: OpenSSL's reason ("certificate verify failed", "wrong version number",
  // "unexpected eof while reading", ...). Built when asked: the engine keeps only the code.
  std::string error() const;
  SSL* ssl() const { return ssl_; }

 private:
  enum class What : uint8_t { kNone, kClosed, kIo, kTls };
  TlsEngine() = default;
  class Call;  // makes this engine the shared BIO's current one for one call into OpenSSL
  int readSome(char* scratch, size_t cap);
  State classify(int ret);
  void fail(What what);
  static int bioRead(BIO* b, char* buf, int len);
  static int bioWrite(BIO* b, const char* buf, int len);
  static long bioCtrl(BIO* b, int cmd, long num, void* ptr);  // NOLINT(runtime/int): OpenSSL API
  static int verifyTrampoline(int preverified, X509_STORE_CTX* ctx);
  friend class TlsBio;

  SSL* ssl_ = nullptr;
  std::string_view in_;
  std::string out_;
  uint32_t error_code_ = 0;  // OpenSSL's packed error code (fits 32 bits)
  What error_what_ = What::kNone;
  bool established_ = false;
};

}  // namespace evg::broker
