#include "aws/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

namespace evg::aws {

namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr char kHex[] = "0123456789abcdef";

std::string toHex(const unsigned char* p, size_t n) {
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[p[i] >> 4];
    out[2 * i + 1] = kHex[p[i] & 0xF];
  }
  return out;
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Trims and collapses runs of spaces/tabs to one space (SigV4 canonical header values).
std::string canonicalValue(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hexValue(s[i + 1]), lo = hexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::string canonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t pos = 0;
  while (pos <= query.size() && !query.empty()) {
    size_t amp = query.find('&', pos);
    std::string_view piece =
        query.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    if (!piece.empty()) {
      size_t eq = piece.find('=');
      std::string_view k = piece.substr(0, eq);
      std::string_view v = eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
      params.emplace_back(uriEncode(percentDecode(k)), uriEncode(percentDecode(v)));
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

// RFC 3986 remove_dot_segments plus collapsing of empty segments; keeps a trailing slash.
std::string normalizePath(std::string_view path) {
  std::vector<std::string_view> segs;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    std::string_view seg =
        path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (seg == "..") {
      if (!segs.empty()) segs.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segs.push_back(seg);
    }
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  std::string out;
  for (auto s : segs) {
    out += '/';
    out += s;
  }
  bool trailing = !path.empty() && path.back() == '/';
  if (out.empty() || trailing) out += '/';
  return out;
}

std::string canonicalUri(std::string_view path, bool s3) {
  if (path.empty()) return "/";
  if (s3) return std::string(path);
  return uriEncode(normalizePath(path), true);
}

bool skipHeader(const std::string& lname) {
  return lname == "authorization" || lname == "user-agent" || lname == "expect";
}

const std::string* findHeader(const HeaderList& h, std::string_view lname) {
  for (const auto& [k, v] : h) {
    if (lower(k) == lname) return &v;
  }
  return nullptr;
}

void setHeader(HeaderList& h, const std::string& name, const std::string& value) {
  std::string lname = lower(name);
  h.erase(
      std::remove_if(h.begin(), h.end(), [&](const auto& kv) { return lower(kv.first) == lname; }),
      h.end());
  h.emplace_back(name, value);
}

std::string signingKey(const Credentials& c, const std::string& date, const SigningOptions& o) {
  std::string k = hmac("AWS4" + c.secret_access_key, date);
  k = hmac(k, o.region);
  k = hmac(k, o.service);
  return hmac(k, "aws4_request");
}

}  // namespace

std::string amzDate(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[20];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return toHex(md, len);
}

std::string uriEncode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += static_cast<char>(std::toupper(kHex[c >> 4]));
      out += static_cast<char>(std::toupper(kHex[c & 0xF]));
    }
  }
  return out;
}

Signature computeSignature(const SignableRequest& req, const Credentials& creds,
                           const SigningOptions& opts) {
  Signature s;
  std::string amz_date = opts.amz_date;
  if (amz_date.empty()) {
    if (const std::string* d = findHeader(req.headers, "x-amz-date")) amz_date = *d;
  }
  std::string date = amz_date.substr(0, 8);

  std::map<std::string, std::string> headers;  // sorted by lowercase name; duplicates joined
  for (const auto& [k, v] : req.headers) {
    std::string lname = lower(k);
    if (skipHeader(lname)) continue;
    auto [it, inserted] = headers.emplace(lname, canonicalValue(v));
    if (!inserted) it->second += "," + canonicalValue(v);
  }
  std::string canonical_headers;
  for (const auto& [k, v] : headers) {
    canonical_headers += k + ":" + v + "\n";
    if (!s.signed_headers.empty()) s.signed_headers += ';';
    s.signed_headers += k;
  }
  const std::string* content_sha = findHeader(req.headers, "x-amz-content-sha256");
  std::string payload_hash = content_sha != nullptr ? *content_sha : sha256Hex(req.payload);

  s.canonical_request = req.method + "\n" + canonicalUri(req.path, opts.s3) + "\n" +
                        canonicalQuery(req.query) + "\n" + canonical_headers + "\n" +
                        s.signed_headers + "\n" + payload_hash;
  s.credential_scope = date + "/" + opts.region + "/" + opts.service + "/aws4_request";
  s.string_to_sign = std::string(kAlgorithm) + "\n" + amz_date + "\n" + s.credential_scope + "\n" +
                     sha256Hex(s.canonical_request);
  std::string sig = hmac(signingKey(creds, date, opts), s.string_to_sign);
  s.signature = toHex(reinterpret_cast<const unsigned char*>(sig.data()), sig.size());
  s.authorization = std::string(kAlgorithm) + " Credential=" + creds.access_key_id + "/" +
                    s.credential_scope + ", SignedHeaders=" + s.signed_headers +
                    ", Signature=" + s.signature;
  return s;
}

Signature signRequest(SignableRequest& req, const Credentials& creds, const SigningOptions& opts) {
  setHeader(req.headers, "X-Amz-Date", opts.amz_date);
  if (opts.content_sha256_header) {
    setHeader(req.headers, "x-amz-content-sha256", sha256Hex(req.payload));
  }
  bool token = !creds.session_token.empty();
  if (token && opts.sign_security_token) {
    setHeader(req.headers, "X-Amz-Security-Token", creds.session_token);
  }
  Signature s = computeSignature(req, creds, opts);
  if (token && !opts.sign_security_token) {
    setHeader(req.headers, "X-Amz-Security-Token", creds.session_token);
  }
  setHeader(req.headers, "Authorization", s.authorization);
  return s;
}

std::string presignQuery(const SignableRequest& req, const Credentials& creds,
                         const SigningOptions& opts, uint32_t expires_s) {
  std::string date = opts.amz_date.substr(0, 8);
  std::string scope = date + "/" + opts.region + "/" + opts.service + "/aws4_request";
  std::vector<std::string> names;
  for (const auto& [k, v] : req.headers) {
    std::string l = lower(k);
    if (!skipHeader(l) && std::find(names.begin(), names.end(), l) == names.end()) {
      names.push_back(l);
    }
  }
  std::sort(names.begin(), names.end());
  std::string signed_headers;
  for (const auto& n : names) signed_headers += (signed_headers.empty() ? "" : ";") + n;
  std::string q = req.query;
  auto add = [&q](std::string_view k, const std::string& v) {
    if (!q.empty()) q += '&';
    q += std::string(k) + "=" + uriEncode(v);
  };
  add("X-Amz-Algorithm", std::string(kAlgorithm));
  add("X-Amz-Credential", creds.access_key_id + "/" + scope);
  add("X-Amz-Date", opts.amz_date);
  add("X-Amz-Expires", std::to_string(expires_s));
  if (!creds.session_token.empty() && opts.sign_security_token) {
    add("X-Amz-Security-Token", creds.session_token);
  }
  add("X-Amz-SignedHeaders", signed_headers);
  SignableRequest r = req;
  r.query = q;
  SigningOptions o = opts;
  Signature s = computeSignature(r, creds, o);
  add("X-Amz-Signature", s.signature);
  if (!creds.session_token.empty() && !opts.sign_security_token) {
    add("X-Amz-Security-Token", creds.session_token);
  }
  return q;
}

}  // namespace evg::aws
