/*
 * Sans-I/O pieces of the C SDK (no sockets, no globals), unit-tested in tests/gg_http_test.cc:
 * a growable byte buffer, an incremental HTTP/1.1 response parser (Content-Length, chunked,
 * read-until-close), base64, JSON string escaping, a top-level JSON key probe and ARN checks.
 * Internal: none of these symbols are exported from the shared library.
 */
#ifndef EVG_GG_HTTP_H_
#define EVG_GG_HTTP_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- byte buffer ---------------------------------------------------------------------------- */

typedef struct gg_buf {
  unsigned char* data; /* always NUL-terminated after a successful append (data[len] == 0) */
  size_t len;
  size_t cap;
} gg_buf;

void gg_buf_init(gg_buf* b);
void gg_buf_free(gg_buf* b);
void gg_buf_reset(gg_buf* b); /* len = 0, keeps memory */
/* 0 on success, -1 when out of memory. */
int gg_buf_append(gg_buf* b, const void* data, size_t n);
int gg_buf_append_str(gg_buf* b, const char* s);

/* ---- HTTP response parser ------------------------------------------------------------------- */

enum {
  GG_HTTP_MORE = 0,  /* feed more bytes */
  GG_HTTP_DONE = 1,  /* one complete response parsed */
  GG_HTTP_ERROR = -1 /* malformed or over a limit; see error */
};

typedef struct gg_http_response {
  /* results */
  int status;              /* e.g. 200 */
  int keep_alive;          /* 1 unless "Connection: close" or HTTP/1.0 without keep-alive */
  char invocation_id[160]; /* X-Amz-InvocationId ("" if absent) */
  char function_error[32]; /* X-Amz-Function-Error ("" if absent) */
  int has_function_error;  /* the header was present */
  gg_buf client_context;   /* X-Amz-Client-Context (raw base64, may be empty) */
  gg_buf body;             /* de-chunked body */
  const char* error;       /* static message when GG_HTTP_ERROR was returned */

  /* limits */
  size_t max_header_bytes;
  size_t max_body_bytes;

  /* parser state (private) */
  int state;
  gg_buf line; /* header block or chunk-size line being accumulated */
  size_t remaining;
  int chunked;
  int has_length;
  int until_close;
} gg_http_response;

void gg_http_response_init(gg_http_response* r, size_t max_header_bytes, size_t max_body_bytes);
void gg_http_response_free(gg_http_response* r);
/* Back to the initial state (keeps the limits and buffers' memory). */
void gg_http_response_reset(gg_http_response* r);

/* Feeds bytes; *consumed is how many were used (less than n only when DONE). */
int gg_http_response_feed(gg_http_response* r, const char* data, size_t n, size_t* consumed);
/* The peer closed the connection: DONE for a read-until-close body, else ERROR. */
int gg_http_response_eof(gg_http_response* r);

/* ---- encodings ------------------------------------------------------------------------------ */

/* Appends the base64 (standard alphabet, padded) of data. 0 or -1 (out of memory). */
int gg_base64_encode(gg_buf* out, const void* data, size_t n);
/* Appends the decoding of text. 0, -1 out of memory, -2 not base64. Whitespace is not allowed. */
int gg_base64_decode(gg_buf* out, const char* text, size_t n);
/* 1 if text is non-empty and consists only of base64 characters and '=' padding. */
int gg_base64_charset_ok(const char* text);

/* Appends s as a JSON string literal (with the quotes). 0 or -1. */
int gg_json_append_string(gg_buf* out, const char* s);

/* 1 if the JSON object text has a top-level member named key (a cheap scan: strings and
 * nesting are honoured; invalid JSON gives 0). */
int gg_json_has_top_level_key(const char* json, size_t n, const char* key);

/* ---- ARNs ----------------------------------------------------------------------------------- */

/* 1 if s is safe to put in a request path / header (printable ASCII without space, '?', '#',
 * '%', CR, LF). */
int gg_path_token_ok(const char* s);

/* Builds the ARN to invoke from an ARN and an optional qualifier (v1 Lambda rules: a qualifier
 * is appended to an unqualified ARN; an ARN that already carries a different one is refused).
 * 0 ok, -1 out of memory, -2 invalid ARN or conflicting qualifier. */
int gg_build_invoke_arn(gg_buf* out, const char* arn, const char* qualifier);

#ifdef __cplusplus
}
#endif

#endif /* EVG_GG_HTTP_H_ */
