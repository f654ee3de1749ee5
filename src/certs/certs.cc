#include "certs/certs.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace evg::certs {
namespace {

namespace fs = std::filesystem;

template <auto F>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    F(p);
  }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;

// Drains OpenSSL's thread-local error queue into one line.
std::string sslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::string join(const std::string& dir, std::string_view name) {
  return (fs::path(dir) / name).string();
}

std::string toHex(const unsigned char* p, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s += kHex[p[i] >> 4];
    s += kHex[p[i] & 0xf];
  }
  return s;
}

Result<std::string> readFile(const std::string& path, size_t max_bytes) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::notFound(path + ": no such file");
  auto size = fs::file_size(path, ec);
  if (ec) return Status::io(path + ": " + ec.message());
  if (size > max_bytes) {
    return Status::tooLarge(path + ": " + std::to_string(size) + " bytes exceeds limit " +
                            std::to_string(max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes path atomically (temp file + fsync + rename) with the given mode.
Status writeFileAtomic(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::io(tmp + ": open: " + std::strerror(errno));
  bool ok = ::fchmod(fd, mode) == 0;
  for (size_t off = 0; ok && off < data.size();) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) off += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    return Status::io(path + ": write: " + std::strerror(err));
  }
  return Status::ok();
}

Status makeDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::io(dir + ": cannot create directory: " + ec.message());
  return Status::ok();
}

Result<X509Ptr> loadCert(const std::string& path, size_t max_bytes) {
  auto data = readFile(path, max_bytes);
  if (!data) return data.status();
  BioPtr bio(BIO_new_mem_buf(data->data(), static_cast<int>(data->size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Status::invalid(path + ": not a PEM certificate: " + sslError());
  return cert;
}

Result<PkeyPtr> loadKey(const std::string& path, size_t max_bytes) {
  auto data = readFile(path, max_bytes);
  if (!data) return data.status();
  BioPtr bio(BIO_new_mem_buf(data->data(), static_cast<int>(data->size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return Status::invalid(path + ": not a PEM private key: " + sslError());
  return key;
}

Result<std::string> bioToString(BIO* bio) {
  char* p = nullptr;
  long n = BIO_get_mem_data(bio, &p);
  if (n < 0 || p == nullptr) return Status::internal("empty memory BIO");
  return std::string(p, static_cast<size_t>(n));
}

Status writeKey(const std::string& path, EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)) {
    return Status::internal("encode key: " + sslError());
  }
  auto pem = bioToString(bio.get());
  if (!pem) return pem.status();
  return writeFileAtomic(path, *pem, 0600);
}

Result<std::string> certToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_X509(bio.get(), cert)) return Status::internal("encode cert: " + sslError());
  return bioToString(bio.get());
}

Status writeCert(const std::string& path, X509* cert) {
  auto pem = certToPem(cert);
  if (!pem) return pem.status();
  return writeFileAtomic(path, *pem, 0644);
}

Result<PkeyPtr> newKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Status::internal("EC P-256 key generation failed: " + sslError());
  return key;
}

Status addExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || !X509_add_ext(cert, ext.get(), -1)) {
    return Status::invalid(std::string(OBJ_nid2sn(nid)) + "=" + value + ": " + sslError());
  }
  return Status::ok();
}

// Builds and signs a certificate. issuer/issuer_key null = self-signed with key.
Result<X509Ptr> makeCert(const std::string& cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                         int days, const std::vector<std::pair<int, std::string>>& exts) {
  X509Ptr cert(X509_new());
  unsigned char serial[16];
  if (!cert || RAND_bytes(serial, sizeof serial) != 1) return Status::internal(sslError());
  serial[0] &= 0x7f;  // positive, at most 20 octets
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get())) != nullptr;
  BN_free(bn);
  X509_NAME* name = X509_get_subject_name(cert.get());
  ok = ok && X509_set_version(cert.get(), 2) &&
       X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) &&  // tolerate small clock skew
       X509_time_adj_ex(X509_getm_notAfter(cert.get()), days, 0, nullptr) &&
       X509_set_pubkey(cert.get(), key) &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                  reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) &&
       X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  if (!ok) return Status::internal("build certificate: " + sslError());
  X509* iss = issuer ? issuer : cert.get();
  EVP_PKEY* sign_key = issuer_key ? issuer_key : key;
  for (const auto& [nid, value] : exts) EVG_RETURN_IF_ERROR(addExt(cert.get(), iss, nid, value));
  if (X509_sign(cert.get(), sign_key, EVP_sha256()) <= 0) {
    return Status::internal("sign certificate: " + sslError());
  }
  return cert;
}

struct Ca {
  X509Ptr cert;
  PkeyPtr key;
};

Result<Ca> loadCa(const std::string& dir, const CertOptions& opts) {
  auto cert = loadCert(join(dir, kCaCertFile), opts.max_file_bytes);
  if (!cert) return cert.status().withContext("group CA: ");
  auto key = loadKey(join(dir, kCaKeyFile), opts.max_file_bytes);
  if (!key) return key.status().withContext("group CA: ");
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    ERR_clear_error();
    return Status::corruption("group CA: " + join(dir, kCaKeyFile) + " does not match " +
                              join(dir, kCaCertFile));
  }
  return Ca{std::move(cert).value(), std::move(key).value()};
}

// Days until notAfter (negative when expired).
int daysLeft(X509* cert) {
  int days = 0, secs = 0;
  if (!ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert))) return -1;
  return days;
}

bool isValidDnsName(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '*';
  });
}

// Canonical SAN list "DNS:..."/"IP:..." (defaults first, duplicates removed, order kept).
Result<std::vector<std::string>> wantedSans(const std::vector<std::string>& dns_names,
                                            const std::vector<std::string>& ips) {
  std::vector<std::string> out{"DNS:localhost"};
  auto add = [&out](std::string v) {
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(std::move(v));
  };
  for (const auto& d : dns_names) {
    if (!isValidDnsName(d)) return Status::invalid("server certificate: bad DNS name '" + d + "'");
    add("DNS:" + d);
  }
  add("IP:127.0.0.1");
  for (const auto& ip : ips) {
    unsigned char buf[16];
    char text[INET6_ADDRSTRLEN];
    int af = ip.find(':') == std::string::npos ? AF_INET : AF_INET6;
    if (inet_pton(af, ip.c_str(), buf) != 1 || !inet_ntop(af, buf, text, sizeof text)) {
      return Status::invalid("server certificate: bad IP address '" + ip + "'");
    }
    add(std::string("IP:") + text);  // canonical form, as OpenSSL prints it back
  }
  return out;
}

std::vector<std::string> sansOf(X509* cert) {
  std::vector<std::string> out;
  NamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type == GEN_DNS) {
      const ASN1_IA5STRING* s = gn->d.dNSName;
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                         static_cast<size_t>(ASN1_STRING_length(s))));
    } else if (gn->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* s = gn->d.iPAddress;
      int len = ASN1_STRING_length(s);
      char text[INET6_ADDRSTRLEN] = "?";
      inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), text, sizeof text);
      out.push_back(std::string("IP:") + text);
    }
  }
  return out;
}

// Leaf extensions common to server and device certificates.
std::vector<std::pair<int, std::string>> leafExts(const std::string& eku) {
  return {{NID_basic_constraints, "critical,CA:FALSE"},
          {NID_key_usage, "critical,digitalSignature"},
          {NID_ext_key_usage, eku},
          {NID_subject_key_identifier, "hash"},
          {NID_authority_key_identifier, "keyid:always"}};
}

// Why the existing server cert must be replaced, or "" if it is fine.
std::string serverCertProblem(const std::string& dir, const Ca& ca,
                              const std::vector<std::string>& sans, const CertOptions& opts) {
  auto cert = loadCert(join(dir, kServerCertFile), opts.max_file_bytes);
  if (!cert) return cert.status().toString();
  auto key = loadKey(join(dir, kServerKeyFile), opts.max_file_bytes);
  if (!key) return key.status().toString();
  std::string why;
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    why = "key does not match certificate";
  } else if (X509_check_issued(ca.cert.get(), cert->get()) != X509_V_OK ||
             X509_verify(cert->get(), X509_get0_pubkey(ca.cert.get())) != 1) {
    why = "not signed by the current group CA";
  } else if (daysLeft(cert->get()) < opts.renew_before_days) {
    why = "expires within " + std::to_string(opts.renew_before_days) + " days";
  } else if (sansOf(cert->get()) != sans) {
    why = "subjectAltName set changed";
  }
  ERR_clear_error();
  return why;
}

}  // namespace

bool isValidThingName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == ':';
  });
}

Status ensureGroupCa(const std::string& dir, const CertOptions& opts) {
  std::error_code ec;
  const std::string key_path = join(dir, kCaKeyFile), cert_path = join(dir, kCaCertFile);
  bool have_key = fs::exists(key_path, ec), have_cert = fs::exists(cert_path, ec);
  if (have_key && have_cert) return loadCa(dir, opts).status();
  if (have_cert) {
    return Status::notFound("group CA: " + cert_path + " exists but its key " + key_path +
                            " is missing; restore the key or remove the certificate to create a "
                            "new CA (devices must then be re-issued)");
  }
  EVG_RETURN_IF_ERROR(makeDir(dir));
  PkeyPtr key;
  if (have_key) {
    auto loaded = loadKey(key_path, opts.max_file_bytes);
    if (!loaded) return loaded.status().withContext("group CA: ");
    key = std::move(loaded).value();
  } else {
    auto fresh = newKey();
    if (!fresh) return fresh.status();
    key = std::move(fresh).value();
    EVG_RETURN_IF_ERROR(writeKey(key_path, key.get()));
  }
  unsigned char suffix[4];
  if (RAND_bytes(suffix, sizeof suffix) != 1) return Status::internal(sslError());
  auto cert = makeCert("Evergreen Group CA " + toHex(suffix, sizeof suffix), key.get(), nullptr,
                       nullptr, opts.ca_validity_days,
                       {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                        {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
                        {NID_subject_key_identifier, "hash"},
                        {NID_authority_key_identifier, "keyid:always"}});
  if (!cert) return cert.status();
  return writeCert(cert_path, cert->get());
}

Status ensureServerCert(const std::string& dir, const std::vector<std::string>& dns_names,
                        const std::vector<std::string>& ips, const CertOptions& opts) {
  auto sans = wantedSans(dns_names, ips);
  if (!sans) return sans.status();
  auto ca = loadCa(dir, opts);
  if (!ca) return ca.status();
  if (serverCertProblem(dir, *ca, *sans, opts).empty()) return Status::ok();
  auto key = newKey();
  if (!key) return key.status();
  std::string san_value;
  for (const auto& s : *sans) san_value += (san_value.empty() ? "" : ",") + s;
  auto exts = leafExts("serverAuth");
  exts.emplace_back(NID_subject_alt_name, san_value);
  auto cert = makeCert("Evergreen MQTT server", key->get(), ca->cert.get(), ca->key.get(),
                       opts.leaf_validity_days, exts);
  if (!cert) return cert.status();
  // Key first: a crash in between leaves a key/cert mismatch, which the next call repairs.
  EVG_RETURN_IF_ERROR(writeKey(join(dir, kServerKeyFile), key->get()));
  return writeCert(join(dir, kServerCertFile), cert->get());
}

Result<DeviceCert> issueDeviceCert(const std::string& ca_dir, const std::string& thing_name,
                                   const std::string& out_dir, const CertOptions& opts) {
  if (!isValidThingName(thing_name)) {
    return Status::invalid("device certificate: bad thing name '" + thing_name +
                           "' (want 1..128 chars of [A-Za-z0-9_:-])");
  }
  auto ca = loadCa(ca_dir, opts);
  if (!ca) return ca.status();
  auto key = newKey();
  if (!key) return key.status();
  auto cert = makeCert(thing_name, key->get(), ca->cert.get(), ca->key.get(),
                       opts.leaf_validity_days, leafExts("clientAuth"));
  if (!cert) return cert.status();
  EVG_RETURN_IF_ERROR(makeDir(out_dir));
  DeviceCert out{join(out_dir, thing_name + ".key"), join(out_dir, thing_name + ".pem"), ""};
  EVG_RETURN_IF_ERROR(writeKey(out.key_path, key->get()));
  EVG_RETURN_IF_ERROR(writeCert(out.cert_path, cert->get()));
  auto fp = fingerprintSha256OfX509(cert->get());
  if (!fp) return fp.status();
  out.sha256_fingerprint = std::move(fp).value();
  return out;
}

Result<std::string> fingerprintSha256OfX509(const x509_st* cert) {
  if (cert == nullptr) return Status::invalid("fingerprint: null certificate");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha256(), md, &n) != 1) {
    return Status::internal("fingerprint: " + sslError());
  }
  return toHex(md, n);
}

Result<std::string> fingerprintSha256OfDer(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* end = p + der.size();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != end) {
    ERR_clear_error();
    return Status::invalid("fingerprint: input is not exactly one DER certificate");
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(der.data(), der.size(), md, &n, EVP_sha256(), nullptr) != 1) {
    return Status::internal("fingerprint: " + sslError());
  }
  return toHex(md, n);
}

Result<std::string> fingerprintSha256OfPemFile(const std::string& path) {
  auto cert = loadCert(path, CertOptions{}.max_file_bytes);
  if (!cert) return cert.status();
  return fingerprintSha256OfX509(cert->get());
}

Result<std::string> pemOfCertFile(const std::string& path) {
  auto cert = loadCert(path, CertOptions{}.max_file_bytes);
  if (!cert) return cert.status();
  return certToPem(cert->get());
}

Result<std::vector<std::string>> subjectAltNames(const std::string& cert_path) {
  auto cert = loadCert(cert_path, CertOptions{}.max_file_bytes);
  if (!cert) return cert.status();
  return sansOf(cert->get());
}

bool isUnknownIssuerError(int err) {
  switch (err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
      return true;
    default:
      return false;
  }
}

Result<CertValidity> certificateValidity(const std::string& cert_path,
                                         const std::string& key_path) {
  auto cert = loadCert(cert_path, CertOptions{}.max_file_bytes);
  if (!cert) return cert.status();
  CertValidity v;
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert->get()), &tm) == 1) {
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    v.not_after = buf;
  }
  v.expired = X509_cmp_current_time(X509_get0_notAfter(cert->get())) <= 0;
  if (!key_path.empty()) {
    auto key = loadKey(key_path, CertOptions{}.max_file_bytes);
    if (!key) return key.status();
    if (X509_check_private_key(cert->get(), key->get()) != 1) {
      ERR_clear_error();
      return Status::invalid(key_path + " is not the private key of " + cert_path);
    }
  }
  return v;
}

Status verifyAgainstCa(const std::string& cert_path, const std::string& ca_cert_path,
                       Purpose purpose) {
  auto cert = loadCert(cert_path, CertOptions{}.max_file_bytes);
  if (!cert) return cert.status();
  auto ca = loadCert(ca_cert_path, CertOptions{}.max_file_bytes);
  if (!ca) return ca.status();
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || !X509_STORE_add_cert(store.get(), ca->get()) ||
      !X509_STORE_CTX_init(ctx.get(), store.get(), cert->get(), nullptr)) {
    return Status::internal("verify: " + sslError());
  }
  if (purpose != Purpose::kAny) {
    X509_STORE_CTX_set_purpose(ctx.get(), purpose == Purpose::kTlsServer ? X509_PURPOSE_SSL_SERVER
                                                                         : X509_PURPOSE_SSL_CLIENT);
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return Status::forbidden(cert_path + ": does not verify against " + ca_cert_path + ": " +
                             X509_verify_cert_error_string(err));
  }
  return Status::ok();
}

Result<std::set<std::string>> loadRevokedList(const std::string& path, const CertOptions& opts) {
  std::set<std::string> out;
  std::error_code ec;
  if (!fs::exists(path, ec)) return out;
  auto data = readFile(path, opts.max_file_bytes);
  if (!data) return data.status();
  std::istringstream in(*data);
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::string fp;
    for (char c : line) {
      if (c == ':' || std::isspace(static_cast<unsigned char>(c))) continue;
      fp += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (fp.empty()) continue;
    if (fp.size() != 64 || fp.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return Status::invalid(path + ":" + std::to_string(lineno) +
                             ": not a SHA-256 fingerprint (want 64 hex digits)");
    }
    out.insert(std::move(fp));
    if (out.size() > opts.max_revoked_entries) {
      return Status::tooLarge(path + ": more than " + std::to_string(opts.max_revoked_entries) +
                              " revoked fingerprints");
    }
  }
  return out;
}

}  // namespace evg::certs
