/* Sans-I/O helpers of the C SDK; see gg_http.h. */
#include "gg_http.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- byte buffer ---------------------------------------------------------------------------- */

void gg_buf_init(gg_buf* b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void gg_buf_free(gg_buf* b) {
  free(b->data);
  gg_buf_init(b);
}

void gg_buf_reset(gg_buf* b) {
  b->len = 0;
  if (b->data != NULL) b->data[0] = 0;
}

int gg_buf_append(gg_buf* b, const void* data, size_t n) {
  if (n > SIZE_MAX - b->len - 1) return -1;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    unsigned char* p;
    while (cap < b->len + n + 1) {
      if (cap > SIZE_MAX / 2) {
        cap = b->len + n + 1;
        break;
      }
      cap *= 2;
    }
    p = (unsigned char*)realloc(b->data, cap);
    if (p == NULL) return -1;
    b->data = p;
    b->cap = cap;
  }
  if (n > 0) memcpy(b->data + b->len, data, n);
  b->len += n;
  b->data[b->len] = 0;
  return 0;
}

int gg_buf_append_str(gg_buf* b, const char* s) { return gg_buf_append(b, s, strlen(s)); }

/* ---- HTTP response parser ------------------------------------------------------------------- */

enum {
  S_HEADERS = 0,
  S_BODY_LENGTH,
  S_CHUNK_SIZE,
  S_CHUNK_DATA,
  S_CHUNK_CRLF,
  S_TRAILERS,
  S_UNTIL_CLOSE,
  S_DONE
};

#define GG_MAX_LINE 1024 /* chunk-size and trailer lines */

void gg_http_response_init(gg_http_response* r, size_t max_header_bytes, size_t max_body_bytes) {
  memset(r, 0, sizeof(*r));
  gg_buf_init(&r->client_context);
  gg_buf_init(&r->body);
  gg_buf_init(&r->line);
  r->max_header_bytes = max_header_bytes;
  r->max_body_bytes = max_body_bytes;
  gg_http_response_reset(r);
}

void gg_http_response_free(gg_http_response* r) {
  gg_buf_free(&r->client_context);
  gg_buf_free(&r->body);
  gg_buf_free(&r->line);
}

void gg_http_response_reset(gg_http_response* r) {
  r->status = 0;
  r->keep_alive = 1;
  r->invocation_id[0] = 0;
  r->function_error[0] = 0;
  r->has_function_error = 0;
  gg_buf_reset(&r->client_context);
  gg_buf_reset(&r->body);
  gg_buf_reset(&r->line);
  r->error = NULL;
  r->state = S_HEADERS;
  r->remaining = 0;
  r->chunked = 0;
  r->has_length = 0;
  r->until_close = 0;
}

static int fail(gg_http_response* r, const char* msg) {
  r->error = msg;
  return GG_HTTP_ERROR;
}

static int name_is(const char* name, size_t n, const char* want) {
  size_t i;
  if (strlen(want) != n) return 0;
  for (i = 0; i < n; ++i) {
    if (tolower((unsigned char)name[i]) != tolower((unsigned char)want[i])) return 0;
  }
  return 1;
}

static int contains_token(const char* v, size_t n, const char* token) {
  size_t t = strlen(token), i, j;
  for (i = 0; i + t <= n; ++i) {
    for (j = 0; j < t; ++j) {
      if (tolower((unsigned char)v[i + j]) != tolower((unsigned char)token[j])) break;
    }
    if (j == t) return 1;
  }
  return 0;
}

static int copy_field(char* dst, size_t cap, const char* v, size_t n) {
  if (n >= cap) return -1;
  memcpy(dst, v, n);
  dst[n] = 0;
  return 0;
}

/* Parses the status line and headers in r->line (which ends with CRLF CRLF). */
static int parse_head(gg_http_response* r) {
  const char* p = (const char*)r->line.data;
  const char* end = p + r->line.len;
  const char* eol = strstr(p, "\r\n");
  int minor;
  if (eol == NULL || eol - p < 12 || memcmp(p, "HTTP/1.", 7) != 0) {
    return fail(r, "malformed HTTP status line");
  }
  if (p[7] != '0' && p[7] != '1') return fail(r, "unsupported HTTP version");
  minor = p[7] - '0';
  if (p[8] != ' ' || !isdigit((unsigned char)p[9]) || !isdigit((unsigned char)p[10]) ||
      !isdigit((unsigned char)p[11]) || (eol - p > 12 && p[12] != ' ')) {
    return fail(r, "malformed HTTP status code");
  }
  r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  r->keep_alive = minor == 1;
  p = eol + 2;
  while (p < end) {
    const char *colon, *v, *ve;
    eol = strstr(p, "\r\n");
    if (eol == NULL) return fail(r, "malformed HTTP header block");
    if (eol == p) break; /* the empty line */
    colon = (const char*)memchr(p, ':', (size_t)(eol - p));
    if (colon == NULL || colon == p) return fail(r, "malformed HTTP header line");
    v = colon + 1;
    while (v < eol && (*v == ' ' || *v == '\t')) ++v;
    ve = eol;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) --ve;
    if (name_is(p, (size_t)(colon - p), "content-length")) {
      size_t len = 0;
      const char* d;
      if (v == ve) return fail(r, "empty Content-Length");
      for (d = v; d < ve; ++d) {
        if (!isdigit((unsigned char)*d)) return fail(r, "malformed Content-Length");
        if (len > (SIZE_MAX - 9) / 10) return fail(r, "Content-Length too large");
        len = len * 10 + (size_t)(*d - '0');
      }
      if (r->has_length && len != r->remaining) {
        return fail(r, "conflicting Content-Length headers");
      }
      r->has_length = 1;
      r->remaining = len;
    } else if (name_is(p, (size_t)(colon - p), "transfer-encoding")) {
      if (!contains_token(v, (size_t)(ve - v), "chunked")) {
        return fail(r, "unsupported Transfer-Encoding");
      }
      r->chunked = 1;
    } else if (name_is(p, (size_t)(colon - p), "connection")) {
      if (contains_token(v, (size_t)(ve - v), "close"))
        r->keep_alive = 0;
      else if (contains_token(v, (size_t)(ve - v), "keep-alive"))
        r->keep_alive = 1;
    } else if (name_is(p, (size_t)(colon - p), "x-amz-invocationid")) {
      if (copy_field(r->invocation_id, sizeof(r->invocation_id), v, (size_t)(ve - v)) != 0) {
        return fail(r, "X-Amz-InvocationId too long");
      }
    } else if (name_is(p, (size_t)(colon - p), "x-amz-function-error")) {
      if (copy_field(r->function_error, sizeof(r->function_error), v, (size_t)(ve - v)) != 0) {
        return fail(r, "X-Amz-Function-Error too long");
      }
      r->has_function_error = 1;
    } else if (name_is(p, (size_t)(colon - p), "x-amz-client-context")) {
      gg_buf_reset(&r->client_context);
      if (gg_buf_append(&r->client_context, v, (size_t)(ve - v)) != 0) {
        return fail(r, "out of memory");
      }
    }
    p = eol + 2;
  }
  gg_buf_reset(&r->line);
  if (r->status < 200) { /* 1xx interim response: parse the next head */
    int keep = r->keep_alive;
    gg_http_response_reset(r);
    r->keep_alive = keep;
    return GG_HTTP_MORE;
  }
  if (r->status == 204 || r->status == 304) {
    r->state = S_DONE;
  } else if (r->chunked) {
    r->has_length = 0;
    r->state = S_CHUNK_SIZE;
  } else if (r->has_length) {
    if (r->remaining > r->max_body_bytes) return fail(r, "response body over the size limit");
    r->state = r->remaining == 0 ? S_DONE : S_BODY_LENGTH;
  } else {
    r->until_close = 1;
    r->keep_alive = 0;
    r->state = S_UNTIL_CLOSE;
  }
  return r->state == S_DONE ? GG_HTTP_DONE : GG_HTTP_MORE;
}

static int append_body(gg_http_response* r, const char* data, size_t n) {
  if (n > r->max_body_bytes || r->body.len > r->max_body_bytes - n) {
    return fail(r, "response body over the size limit");
  }
  if (gg_buf_append(&r->body, data, n) != 0) return fail(r, "out of memory");
  return GG_HTTP_MORE;
}

static int parse_chunk_size(gg_http_response* r) {
  const char* p = (const char*)r->line.data;
  size_t size = 0;
  int digits = 0;
  while (isxdigit((unsigned char)*p)) {
    int d = isdigit((unsigned char)*p) ? *p - '0' : tolower((unsigned char)*p) - 'a' + 10;
    if (size > (SIZE_MAX >> 4)) return fail(r, "chunk size too large");
    size = size * 16 + (size_t)d;
    ++p;
    ++digits;
  }
  while (*p == ' ' || *p == '\t') ++p;
  if (digits == 0 || (*p != ';' && *p != '\r')) return fail(r, "malformed chunk size");
  gg_buf_reset(&r->line);
  if (size == 0) {
    r->state = S_TRAILERS;
  } else {
    if (size > r->max_body_bytes || r->body.len > r->max_body_bytes - size) {
      return fail(r, "response body over the size limit");
    }
    r->remaining = size;
    r->state = S_CHUNK_DATA;
  }
  return GG_HTTP_MORE;
}

int gg_http_response_feed(gg_http_response* r, const char* data, size_t n, size_t* consumed) {
  size_t i = 0;
  int rc = GG_HTTP_MORE;
  if (r->error != NULL) return GG_HTTP_ERROR;
  while (i < n && rc == GG_HTTP_MORE) {
    switch (r->state) {
      case S_HEADERS: {
        /* byte at a time into the header block until CRLF CRLF */
        const char* nl = (const char*)memchr(data + i, '\n', n - i);
        size_t take = nl ? (size_t)(nl - (data + i)) + 1 : n - i;
        if (r->line.len + take > r->max_header_bytes) {
          rc = fail(r, "response header block over the size limit");
          break;
        }
        if (gg_buf_append(&r->line, data + i, take) != 0) {
          rc = fail(r, "out of memory");
          break;
        }
        i += take;
        if (r->line.len == 2 && memcmp(r->line.data, "\r\n", 2) == 0) {
          gg_buf_reset(&r->line); /* tolerate a stray CRLF before the status line */
        } else if (r->line.len >= 4 && memcmp(r->line.data + r->line.len - 4, "\r\n\r\n", 4) == 0) {
          rc = parse_head(r);
        }
        break;
      }
      case S_BODY_LENGTH: {
        size_t take = n - i < r->remaining ? n - i : r->remaining;
        rc = append_body(r, data + i, take);
        i += take;
        r->remaining -= take;
        if (rc == GG_HTTP_MORE && r->remaining == 0) {
          r->state = S_DONE;
          rc = GG_HTTP_DONE;
        }
        break;
      }
      case S_CHUNK_SIZE:
      case S_TRAILERS: {
        const char* nl = (const char*)memchr(data + i, '\n', n - i);
        size_t take = nl ? (size_t)(nl - (data + i)) + 1 : n - i;
        if (r->line.len + take > GG_MAX_LINE) {
          rc = fail(r, "chunk line too long");
          break;
        }
        if (gg_buf_append(&r->line, data + i, take) != 0) {
          rc = fail(r, "out of memory");
          break;
        }
        i += take;
        if (nl == NULL) break;
        if (r->line.len < 2 || r->line.data[r->line.len - 2] != '\r') {
          rc = fail(r, "chunk line not terminated by CRLF");
          break;
        }
        if (r->state == S_CHUNK_SIZE) {
          rc = parse_chunk_size(r);
        } else if (r->line.len == 2) {
          r->state = S_DONE;
          rc = GG_HTTP_DONE;
        } else {
          gg_buf_reset(&r->line); /* a trailer header: ignored */
        }
        break;
      }
      case S_CHUNK_DATA: {
        size_t take = n - i < r->remaining ? n - i : r->remaining;
        rc = append_body(r, data + i, take);
        i += take;
        r->remaining -= take;
        if (r->remaining == 0) r->state = S_CHUNK_CRLF;
        break;
      }
      case S_CHUNK_CRLF: {
        /* two bytes "\r\n"; r->remaining counts how many were seen */
        char want = r->remaining == 0 ? '\r' : '\n';
        if (data[i] != want) {
          rc = fail(r, "chunk data not followed by CRLF");
          break;
        }
        ++i;
        if (++r->remaining == 2) {
          r->remaining = 0;
          r->state = S_CHUNK_SIZE;
        }
        break;
      }
      case S_UNTIL_CLOSE:
        rc = append_body(r, data + i, n - i);
        i = n;
        break;
      default: /* S_DONE */
        rc = GG_HTTP_DONE;
        break;
    }
  }
  if (consumed != NULL) *consumed = i;
  return rc;
}

int gg_http_response_eof(gg_http_response* r) {
  if (r->error != NULL) return GG_HTTP_ERROR;
  if (r->state == S_DONE) return GG_HTTP_DONE;
  if (r->state == S_UNTIL_CLOSE) {
    r->state = S_DONE;
    return GG_HTTP_DONE;
  }
  return fail(r, r->state == S_HEADERS && r->line.len == 0
                     ? "connection closed before a response"
                     : "connection closed in the middle of a response");
}

/* ---- encodings ------------------------------------------------------------------------------ */

static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int gg_base64_encode(gg_buf* out, const void* data, size_t n) {
  const unsigned char* p = (const unsigned char*)data;
  size_t i;
  char q[4];
  for (i = 0; i + 2 < n; i += 3) {
    q[0] = kB64[p[i] >> 2];
    q[1] = kB64[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
    q[2] = kB64[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
    q[3] = kB64[p[i + 2] & 63];
    if (gg_buf_append(out, q, 4) != 0) return -1;
  }
  if (i < n) {
    q[0] = kB64[p[i] >> 2];
    if (i + 1 < n) {
      q[1] = kB64[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
      q[2] = kB64[(p[i + 1] & 15) << 2];
    } else {
      q[1] = kB64[(p[i] & 3) << 4];
      q[2] = '=';
    }
    q[3] = '=';
    if (gg_buf_append(out, q, 4) != 0) return -1;
  }
  if (out->data == NULL && gg_buf_append(out, "", 0) != 0) return -1;
  return 0;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int gg_base64_decode(gg_buf* out, const char* text, size_t n) {
  size_t i;
  unsigned char o[3];
  if (n % 4 != 0) return -2;
  for (i = 0; i < n; i += 4) {
    int v[4], k, pad = 0;
    for (k = 0; k < 4; ++k) {
      if (text[i + k] == '=') {
        if (i + 4 != n || k < 2) return -2;
        v[k] = 0;
        ++pad;
      } else {
        if (pad) return -2;
        v[k] = b64_value(text[i + k]);
        if (v[k] < 0) return -2;
      }
    }
    o[0] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
    o[1] = (unsigned char)(((v[1] & 15) << 4) | (v[2] >> 2));
    o[2] = (unsigned char)(((v[2] & 3) << 6) | v[3]);
    if (gg_buf_append(out, o, (size_t)(3 - pad)) != 0) return -1;
  }
  if (out->data == NULL && gg_buf_append(out, "", 0) != 0) return -1;
  return 0;
}

int gg_base64_charset_ok(const char* text) {
  const char* p;
  if (text == NULL || *text == 0) return 0;
  for (p = text; *p; ++p) {
    if (b64_value(*p) < 0 && *p != '=') return 0;
  }
  return 1;
}

int gg_json_append_string(gg_buf* out, const char* s) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char* p;
  if (gg_buf_append(out, "\"", 1) != 0) return -1;
  for (p = (const unsigned char*)s; *p; ++p) {
    char esc[7];
    size_t n = 0;
    switch (*p) {
      case '"':
        esc[0] = '\\';
        esc[1] = '"';
        n = 2;
        break;
      case '\\':
        esc[0] = '\\';
        esc[1] = '\\';
        n = 2;
        break;
      case '\n':
        esc[0] = '\\';
        esc[1] = 'n';
        n = 2;
        break;
      case '\r':
        esc[0] = '\\';
        esc[1] = 'r';
        n = 2;
        break;
      case '\t':
        esc[0] = '\\';
        esc[1] = 't';
        n = 2;
        break;
      default:
        if (*p < 0x20) {
          memcpy(esc, "\\u00", 4);
          esc[4] = hex[*p >> 4];
          esc[5] = hex[*p & 15];
          n = 6;
        }
    }
    if (n > 0) {
      if (gg_buf_append(out, esc, n) != 0) return -1;
    } else if (gg_buf_append(out, p, 1) != 0) {
      return -1;
    }
  }
  return gg_buf_append(out, "\"", 1);
}

/* Index just past the JSON string starting at s[i] == '"', or n when unterminated. */
static size_t skip_string(const char* s, size_t n, size_t i) {
  for (++i; i < n; ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return n;
}

int gg_json_has_top_level_key(const char* json, size_t n, const char* key) {
  size_t i = 0, klen = strlen(key);
  int depth = 0, expect_key = 0;
  while (i < n && isspace((unsigned char)json[i])) ++i;
  if (i >= n || json[i] != '{') return 0;
  for (; i < n; ++i) {
    char c = json[i];
    if (c == '"') {
      size_t end = skip_string(json, n, i);
      if (end >= n) return 0;
      if (depth == 1 && expect_key) {
        size_t j = end;
        while (j < n && isspace((unsigned char)json[j])) ++j;
        if (j < n && json[j] == ':' && end - i - 2 == klen &&
            memcmp(json + i + 1, key, klen) == 0) {
          return 1;
        }
        expect_key = 0;
      }
      i = end - 1;
    } else if (c == '{' || c == '[') {
      ++depth;
      expect_key = depth == 1;
    } else if (c == '}' || c == ']') {
      --depth;
      if (depth <= 0) return 0;
    } else if (c == ',' && depth == 1) {
      expect_key = 1;
    }
  }
  return 0;
}

/* ---- ARNs ----------------------------------------------------------------------------------- */

int gg_path_token_ok(const char* s) {
  const unsigned char* p;
  if (s == NULL || *s == 0) return 0;
  for (p = (const unsigned char*)s; *p; ++p) {
    if (*p <= 0x20 || *p >= 0x7f || *p == '?' || *p == '#' || *p == '%') return 0;
  }
  return 1;
}

int gg_build_invoke_arn(gg_buf* out, const char* arn, const char* qualifier) {
  const char *p, *qual = NULL;
  int colons = 0;
  if (!gg_path_token_ok(arn) || strncmp(arn, "arn:", 4) != 0) return -2;
  for (p = arn; *p; ++p) {
    if (*p == ':' && ++colons == 7) qual = p + 1;
  }
  /* arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>] */
  if (colons < 6 || colons > 7 || (qual != NULL && *qual == 0)) return -2;
  if (qualifier != NULL && *qualifier != 0) {
    if (!gg_path_token_ok(qualifier) || strchr(qualifier, ':') != NULL) return -2;
    if (qual != NULL) {
      if (strcmp(qual, qualifier) != 0) return -2;
    } else {
      if (gg_buf_append_str(out, arn) != 0 || gg_buf_append(out, ":", 1) != 0 ||
          gg_buf_append_str(out, qualifier) != 0) {
        return -1;
      }
      return 0;
    }
  }
  return gg_buf_append_str(out, arn) != 0 ? -1 : 0;
}
