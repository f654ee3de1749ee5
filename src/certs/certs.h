#pragma once
// Local PKI for the core: a group CA (EC P-256, self-signed) that signs the MQTT server certificate
// and per-device client certificates. Devices are identified by the lowercase hex SHA-256 of their
// certificate's DER encoding (the group's Devices[].CertificateFingerprintSha256).
// See src/certs/README.md for the file layout and trust model.
//
// All functions are synchronous, do blocking file I/O and key generation (run them at start-up or
// on the worker pool, never on the event loop). They are thread-safe with respect to each other
// except that two concurrent writers to the same directory race (last rename wins; files are
// always replaced atomically, so readers never see a half-written file).
// Key files are written with mode 0600, certificates 0644; directories are created if missing.

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

struct x509_st;  // OpenSSL's X509

namespace evg::certs {

struct CertOptions {
  int ca_validity_days = 3650;      // group CA lifetime (10 years)
  int leaf_validity_days = 365;     // server and device certificates
  int renew_before_days = 30;       // ensureServerCert re-issues when fewer days remain
  size_t max_file_bytes = 1 << 20;  // bound on any PEM / revoked-list file we read
  size_t max_revoked_entries = 100000;
};

// File names inside a CA / server directory.
inline constexpr std::string_view kCaKeyFile = "group-ca.key";
inline constexpr std::string_view kCaCertFile = "group-ca.pem";
inline constexpr std::string_view kServerKeyFile = "server.key";
inline constexpr std::string_view kServerCertFile = "server.pem";

// Creates dir/group-ca.key and dir/group-ca.pem (CN "Evergreen Group CA <8 hex>") if missing.
// Existing files are kept when they parse and the key matches the certificate. If only the key
// exists a new certificate is self-signed with it. Errors: NotFound when the certificate exists
// without its key (we refuse to silently replace a CA that devices trust), Corruption when files
// do not parse or do not match, Io on filesystem failures.
Status ensureGroupCa(const std::string& dir, const CertOptions& opts = {});

// Ensures dir/server.key + dir/server.pem exist, are signed by the group CA in dir, carry
// serverAuth EKU and SAN DNS:localhost + dns_names, IP:127.0.0.1 + ips. Re-issues (new key) when
// missing, unparsable, not matching its key, expiring within renew_before_days, not signed by the
// current CA, or when the requested SAN set differs. Errors: NotFound (no CA in dir), Invalid (bad
// DNS name or IP literal), Io.
Status ensureServerCert(const std::string& dir, const std::vector<std::string>& dns_names,
                        const std::vector<std::string>& ips, const CertOptions& opts = {});

struct DeviceCert {
  std::string key_path;
  std::string cert_path;
  std::string sha256_fingerprint;  // lowercase hex, 64 chars
};

// Issues a fresh key + client certificate (CN=thing_name, clientAuth EKU) signed by the CA in
// ca_dir, written to out_dir/<thing>.key and out_dir/<thing>.pem (replacing existing ones: a
// re-issue yields a new fingerprint that must be put into the group). Errors: Invalid (thing name
// not 1..128 chars of [A-Za-z0-9_:-]), NotFound (no CA), Io.
Result<DeviceCert> issueDeviceCert(const std::string& ca_dir, const std::string& thing_name,
                                   const std::string& out_dir, const CertOptions& opts = {});

// True for AWS IoT thing names: 1..128 chars of [A-Za-z0-9_:-].
bool isValidThingName(std::string_view name);

// Lowercase hex SHA-256 of the certificate's DER encoding (= `openssl x509 -fingerprint -sha256`
// without colons, lowercased). The PEM variant uses the first certificate in the file.
Result<std::string> fingerprintSha256OfPemFile(const std::string& path);
// der must be exactly one DER-encoded certificate (Invalid otherwise).
Result<std::string> fingerprintSha256OfDer(std::string_view der);
// For a peer certificate taken from a TLS session (SSL_get0_peer_certificate). Borrowed pointer.
Result<std::string> fingerprintSha256OfX509(const x509_st* cert);

// True for X509_V_ERR_* codes that only say "the issuer is not a CA we trust" (unknown issuer,
// self-signed, untrusted). TLS listeners forgive exactly these for a client certificate whose
// SHA-256 is pinned (a device's AWS IoT certificate); expiry and every other error still refuse.
bool isUnknownIssuerError(int verify_error);

// The first certificate in the file, re-encoded as PEM (Invalid/NotFound/TooLarge on bad input).
Result<std::string> pemOfCertFile(const std::string& path);

// The certificate's subjectAltName entries as "DNS:<name>" / "IP:<address>", in order.
Result<std::vector<std::string>> subjectAltNames(const std::string& cert_path);

// A certificate's end of validity, and whether it has passed.
struct CertValidity {
  std::string not_after;  // "YYYY-MM-DD" (UTC)
  bool expired = false;
};
// Reads the first certificate of cert_path; with a non-empty key_path also checks that the key is
// the certificate's (Invalid naming both files otherwise). NotFound/Invalid for unreadable files.
Result<CertValidity> certificateValidity(const std::string& cert_path,
                                         const std::string& key_path = {});

enum class Purpose { kAny, kTlsServer, kTlsClient };
// Verifies cert_path chains to (is signed by, and within validity of) the CA in ca_cert_path, and,
// unless kAny, that its key usage / EKU allow the purpose. Forbidden with OpenSSL's reason when it
// does not verify; NotFound/Invalid for unreadable files.
Status verifyAgainstCa(const std::string& cert_path, const std::string& ca_cert_path,
                       Purpose purpose = Purpose::kAny);

// Revoked fingerprints, one per line; '#' starts a comment; blank lines ignored; colons and case
// are normalised away (so `openssl x509 -fingerprint` output values can be pasted). Missing file =
// empty set. Invalid (naming the line) for anything that is not 64 hex digits.
Result<std::set<std::string>> loadRevokedList(const std::string& path,
                                              const CertOptions& opts = {});

}  // namespace evg::certs
