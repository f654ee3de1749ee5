/*
 * libaws-greengrass-core-sdk-c.so: Evergreen's implementation of greengrasssdk.h (v1.2.0) over
 * the v1 IPC protocol (reference ggv1-protocol.md §1-§3): plain HTTP/1.1 to
 * 127.0.0.1:$GG_DAEMON_PORT, keep-alive connections with TCP_NODELAY, every request carrying
 * "Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN".
 *
 * The API is process-global by design (gg_global_init, gg_runtime_start, the handler calls),
 * so this file keeps its state in file-scope statics: the environment read once, a small pool
 * of idle keep-alive connections, the runtime's SIGTERM wake pipe and the current invocation.
 * See README.md for the flow.
 */
#include "greengrasssdk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gg_http.h"

/* ---- limits (override with -D at build time) ------------------------------------------------ */

#ifndef GG_SDK_MAX_BODY_BYTES /* largest response body (event, invoke result) accepted */
#define GG_SDK_MAX_BODY_BYTES (16u * 1024u * 1024u)
#endif
#ifndef GG_SDK_MAX_HEADER_BYTES /* largest response header block */
#define GG_SDK_MAX_HEADER_BYTES (64u * 1024u)
#endif
#ifndef GG_SDK_MAX_IDLE_CONNECTIONS /* keep-alive connections kept for reuse */
#define GG_SDK_MAX_IDLE_CONNECTIONS 4
#endif
#ifndef GG_SDK_MAX_LOG_MESSAGE /* longer gg_log messages are truncated */
#define GG_SDK_MAX_LOG_MESSAGE (64 * 1024)
#endif
#ifndef GG_SDK_MAX_WORK_FAILURES /* consecutive failed work polls before the runtime gives up */
#define GG_SDK_MAX_WORK_FAILURES 10
#endif

#define GG_DEFAULT_ROUTER_ARN "arn:aws:lambda:::function:GGRouter"
#define GG_DEFAULT_SHADOW_ARN "arn:aws:lambda:::function:GGShadowService"
#define GG_DEFAULT_SECRETS_ARN "arn:aws:lambda:::function:GGSecretManager:1"
#define GG_FUNCTIONS_PATH "/2016-11-01/functions/"

/* Exported in node aws_greengrass_core_sdk_c_1.0 (as the genuine version map lists it) but not
 * declared in greengrasssdk.h: resets a request so it can be used for another call. */
gg_error gg_request_reuse(gg_request ggreq);

struct _gg_request {
  gg_buf body; /* response of the last call */
  size_t offset;
};

struct _gg_publish_options {
  gg_queue_full_policy_options policy;
};

/* ---- environment ---------------------------------------------------------------------------- */

static pthread_once_t g_env_once = PTHREAD_ONCE_INIT;
static char* g_function_arn; /* MY_FUNCTION_ARN (NULL if unset or unusable) */
static char* g_token;        /* AWS_CONTAINER_AUTHORIZATION_TOKEN */
static const char* g_router_arn = GG_DEFAULT_ROUTER_ARN;
static const char* g_shadow_arn = GG_DEFAULT_SHADOW_ARN;
static const char* g_secrets_arn = GG_DEFAULT_SECRETS_ARN;
static unsigned short g_port = 8000;
static int g_log_fd[GG_LOG_RESERVED_MAX]; /* by gg_log_level; -1: stderr */
static int g_min_level = GG_LOG_RESERVED_NOTSET;

static const char* const kLevelNames[GG_LOG_RESERVED_MAX] = {"NOTSET", "DEBUG", "INFO",
                                                             "WARN",   "ERROR", "FATAL"};

static char* env_dup(const char* name) {
  const char* v = getenv(name);
  return v != NULL && *v != 0 ? strdup(v) : NULL;
}

static void load_env(void) {
  char* v;
  int i;
  g_function_arn = env_dup("MY_FUNCTION_ARN");
  if (g_function_arn != NULL && !gg_path_token_ok(g_function_arn)) {
    free(g_function_arn);
    g_function_arn = NULL;
  }
  g_token = env_dup("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  if (g_token != NULL && !gg_path_token_ok(g_token)) {
    free(g_token);
    g_token = NULL;
  }
  if ((v = env_dup("ROUTER_FUNCTION_ARN")) != NULL && gg_path_token_ok(v)) g_router_arn = v;
  if ((v = env_dup("SHADOW_FUNCTION_ARN")) != NULL && gg_path_token_ok(v)) g_shadow_arn = v;
  if ((v = env_dup("SECRETS_MANAGER_FUNCTION_ARN")) != NULL && gg_path_token_ok(v)) {
    g_secrets_arn = v;
  }
  v = getenv("GG_DAEMON_PORT");
  if (v != NULL && *v != 0) {
    char* end = NULL;
    long p = strtol(v, &end, 10);
    if (end != NULL && *end == 0 && p > 0 && p < 65536) g_port = (unsigned short)p;
  }
  for (i = 0; i < GG_LOG_RESERVED_MAX; ++i) {
    char name[32];
    g_log_fd[i] = -1;
    if (i == GG_LOG_RESERVED_NOTSET) continue;
    snprintf(name, sizeof(name), "_GG_LOG_FD_%s", kLevelNames[i]);
    v = getenv(name);
    if (v != NULL && *v != 0) {
      char* end = NULL;
      long fd = strtol(v, &end, 10);
      if (end != NULL && *end == 0 && fd > 2 && fd < 1024 && fcntl((int)fd, F_GETFD) >= 0) {
        g_log_fd[i] = (int)fd;
      } else if (end != NULL && *end == 0 && (fd == 1 || fd == 2)) {
        g_log_fd[i] = (int)fd;
      }
    }
  }
  v = getenv("LOG_LEVEL");
  if (v != NULL) {
    if (strcmp(v, "TRACE") == 0 || strcmp(v, "DEBUG") == 0)
      g_min_level = GG_LOG_DEBUG;
    else if (strcmp(v, "INFO") == 0)
      g_min_level = GG_LOG_INFO;
    else if (strcmp(v, "WARN") == 0)
      g_min_level = GG_LOG_WARN;
    else if (strcmp(v, "ERROR") == 0)
      g_min_level = GG_LOG_ERROR;
    else if (strcmp(v, "FATAL") == 0)
      g_min_level = GG_LOG_FATAL;
  }
}

static void ensure_env(void) { pthread_once(&g_env_once, load_env); }

/* ---- logging -------------------------------------------------------------------------------- */

static void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += w;
    n -= (size_t)w;
  }
}

static gg_error vlog(gg_log_level level, const char* format, va_list ap) {
  char stack[1024];
  char* msg = stack;
  int n;
  va_list copy;
  int fd;
  if ((int)level <= GG_LOG_RESERVED_NOTSET || (int)level >= GG_LOG_RESERVED_MAX || format == NULL) {
    return GGE_INVALID_PARAMETER;
  }
  ensure_env();
  if ((int)level < g_min_level) return GGE_SUCCESS;
  fd = g_log_fd[level];
  va_copy(copy, ap);
  n = vsnprintf(stack, sizeof(stack) - 1, format, ap);
  if (n < 0) {
    va_end(copy);
    return GGE_INVALID_PARAMETER;
  }
  if ((size_t)n >= sizeof(stack) - 1) {
    size_t want = (size_t)n < GG_SDK_MAX_LOG_MESSAGE ? (size_t)n : GG_SDK_MAX_LOG_MESSAGE;
    msg = (char*)malloc(want + 2);
    if (msg == NULL) {
      va_end(copy);
      return GGE_OUT_OF_MEMORY;
    }
    vsnprintf(msg, want + 1, format, copy);
    n = (int)want;
  }
  va_end(copy);
  msg[n] = '\n';
  if (fd < 0) { /* not under a core: stderr with the level */
    char prefix[16];
    int pn = snprintf(prefix, sizeof(prefix), "[%s] ", kLevelNames[level]);
    write_all(2, prefix, (size_t)pn);
    fd = 2;
  }
  write_all(fd, msg, (size_t)n + 1);
  if (msg != stack) free(msg);
  return GGE_SUCCESS;
}

gg_error gg_log(gg_log_level level, const char* format, ...) {
  gg_error e;
  va_list ap;
  va_start(ap, format);
  e = vlog(level, format, ap);
  va_end(ap);
  return e;
}

/* The library's own messages, into the same function log. */
static void sdk_log(gg_log_level level, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  vlog(level, format, ap);
  va_end(ap);
}

/* ---- connections ---------------------------------------------------------------------------- */

static pthread_mutex_t g_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_pool[GG_SDK_MAX_IDLE_CONNECTIONS];
static int g_pool_n;

/* Runtime wake pipe: SIGTERM writes one byte and nothing drains it, so it stays readable. */
static int g_wake[2] = {-1, -1};
static volatile sig_atomic_t g_terminated;

static int conn_open(void) {
  struct sockaddr_in a;
  int one = 1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons(g_port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  while (connect(fd, (struct sockaddr*)&a, sizeof(a)) != 0) {
    if (errno == EINTR) continue;
    close(fd);
    return -1;
  }
  return fd;
}

static int pool_get(int* reused) {
  int fd = -1;
  pthread_mutex_lock(&g_pool_mu);
  if (g_pool_n > 0) fd = g_pool[--g_pool_n];
  pthread_mutex_unlock(&g_pool_mu);
  *reused = fd >= 0;
  return fd >= 0 ? fd : conn_open();
}

static void pool_put(int fd) {
  pthread_mutex_lock(&g_pool_mu);
  if (g_pool_n < GG_SDK_MAX_IDLE_CONNECTIONS) {
    g_pool[g_pool_n++] = fd;
    fd = -1;
  }
  pthread_mutex_unlock(&g_pool_mu);
  if (fd >= 0) close(fd);
}

static int send_all(int fd, const gg_buf* head, const void* body, size_t body_len) {
  struct iovec iov[2];
  size_t off = 0, total = head->len + body_len;
  while (off < total) {
    struct msghdr m;
    int k = 0;
    ssize_t w;
    if (off < head->len) {
      iov[k].iov_base = head->data + off;
      iov[k++].iov_len = head->len - off;
      if (body_len > 0) {
        iov[k].iov_base = (void*)body;
        iov[k++].iov_len = body_len;
      }
    } else {
      iov[k].iov_base = (unsigned char*)body + (off - head->len);
      iov[k++].iov_len = total - off;
    }
    memset(&m, 0, sizeof(m));
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)k;
    w = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    off += (size_t)w;
  }
  return 0;
}

enum { IO_OK = 0, IO_FAIL = -1, IO_TERM = -2, IO_NOMEM = -3 };

typedef struct gg_header {
  const char* name;
  const char* value;
} gg_header;

/* One request/response on a pooled keep-alive connection. A reused connection that the server
 * closed while idle is retried once on a fresh one (only when no response byte arrived).
 * wakeable: a SIGTERM seen by the runtime aborts the wait (IO_TERM). */
static int roundtrip(const char* method, const char* path, const gg_header* hdrs, size_t nh,
                     const void* body, size_t body_len, gg_http_response* resp, int wakeable) {
  gg_buf head;
  char num[32];
  char buf[16384];
  int attempt, rc = IO_FAIL;
  size_t i;
  gg_buf_init(&head);
  snprintf(num, sizeof(num), "%lu", (unsigned long)body_len);
  if (gg_buf_append_str(&head, method) || gg_buf_append_str(&head, " ") ||
      gg_buf_append_str(&head, path) ||
      gg_buf_append_str(&head, " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ") ||
      gg_buf_append_str(&head, g_token != NULL ? g_token : "") ||
      gg_buf_append_str(&head, "\r\nContent-Length: ") || gg_buf_append_str(&head, num) ||
      gg_buf_append_str(&head, "\r\n")) {
    gg_buf_free(&head);
    return IO_NOMEM;
  }
  for (i = 0; i < nh; ++i) {
    if (gg_buf_append_str(&head, hdrs[i].name) || gg_buf_append_str(&head, ": ") ||
        gg_buf_append_str(&head, hdrs[i].value) || gg_buf_append_str(&head, "\r\n")) {
      gg_buf_free(&head);
      return IO_NOMEM;
    }
  }
  if (gg_buf_append_str(&head, "\r\n")) {
    gg_buf_free(&head);
    return IO_NOMEM;
  }
  for (attempt = 0; attempt < 2; ++attempt) {
    int reused = 0, got = 0, done = 0;
    int fd = pool_get(&reused);
    if (fd < 0) {
      sdk_log(GG_LOG_ERROR, "cannot connect to the Greengrass core at 127.0.0.1:%u: %s",
              (unsigned)g_port, strerror(errno));
      rc = IO_FAIL;
      break;
    }
    gg_http_response_reset(resp);
    if (send_all(fd, &head, body, body_len) != 0) {
      close(fd);
      if (reused) continue;
      sdk_log(GG_LOG_ERROR, "sending %s %s failed: %s", method, path, strerror(errno));
      rc = IO_FAIL;
      break;
    }
    while (!done) {
      ssize_t n;
      size_t used = 0;
      int st;
      if (wakeable && g_wake[0] >= 0) {
        struct pollfd p[2];
        p[0].fd = fd;
        p[0].events = POLLIN;
        p[1].fd = g_wake[0];
        p[1].events = POLLIN;
        p[0].revents = p[1].revents = 0;
        if (poll(p, 2, -1) < 0) {
          if (errno == EINTR && !g_terminated) continue;
        }
        if (g_terminated || (p[1].revents & POLLIN)) {
          close(fd);
          rc = IO_TERM;
          done = 2;
          break;
        }
      }
      n = recv(fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        st = n == 0 ? gg_http_response_eof(resp) : GG_HTTP_ERROR;
        close(fd);
        if (st == GG_HTTP_DONE) {
          rc = IO_OK;
          done = 2;
        } else if (reused && !got) {
          done = 1; /* stale idle connection: retry on a fresh one */
        } else {
          sdk_log(GG_LOG_ERROR, "%s %s: %s", method, path,
                  n < 0 ? strerror(errno) : (resp->error ? resp->error : "connection closed"));
          rc = IO_FAIL;
          done = 2;
        }
        break;
      }
      got = 1;
      st = gg_http_response_feed(resp, buf, (size_t)n, &used);
      if (st == GG_HTTP_ERROR) {
        sdk_log(GG_LOG_ERROR, "%s %s: bad response from the core: %s", method, path, resp->error);
        close(fd);
        rc = IO_FAIL;
        done = 2;
      } else if (st == GG_HTTP_DONE) {
        if (used < (size_t)n || !resp->keep_alive)
          close(fd);
        else
          pool_put(fd);
        rc = IO_OK;
        done = 2;
      }
    }
    if (done == 2) break;
    rc = IO_FAIL;
  }
  gg_buf_free(&head);
  return rc;
}

static gg_error io_error(int rc) {
  if (rc == IO_TERM) return GGE_TERMINATE;
  if (rc == IO_NOMEM) return GGE_OUT_OF_MEMORY;
  return GGE_INTERNAL_FAILURE;
}

/* ---- global --------------------------------------------------------------------------------- */

gg_error gg_global_init(uint32_t opt) {
  if (opt != 0) return GGE_INVALID_PARAMETER;
  ensure_env();
  return GGE_SUCCESS;
}

/* ---- requests ------------------------------------------------------------------------------- */

gg_error gg_request_init(gg_request* ggreq) {
  gg_request r;
  if (ggreq == NULL) return GGE_INVALID_PARAMETER;
  ensure_env();
  r = (gg_request)calloc(1, sizeof(*r));
  if (r == NULL) return GGE_OUT_OF_MEMORY;
  gg_buf_init(&r->body);
  *ggreq = r;
  return GGE_SUCCESS;
}

gg_error gg_request_reuse(gg_request ggreq) {
  if (ggreq == NULL) return GGE_INVALID_PARAMETER;
  gg_buf_reset(&ggreq->body);
  ggreq->offset = 0;
  return GGE_SUCCESS;
}

gg_error gg_request_close(gg_request ggreq) {
  if (ggreq == NULL) return GGE_INVALID_PARAMETER;
  gg_buf_free(&ggreq->body);
  free(ggreq);
  return GGE_SUCCESS;
}

static gg_error read_from(const gg_buf* b, size_t* offset, void* buffer, size_t size,
                          size_t* amount_read) {
  size_t n;
  if (amount_read == NULL || (buffer == NULL && size > 0)) return GGE_INVALID_PARAMETER;
  n = b->len - *offset;
  if (n > size) n = size;
  if (n > 0) memcpy(buffer, b->data + *offset, n);
  *offset += n;
  *amount_read = n;
  return GGE_SUCCESS;
}

gg_error gg_request_read(gg_request ggreq, void* buffer, size_t buffer_size, size_t* amount_read) {
  if (ggreq == NULL) return GGE_INVALID_PARAMETER;
  return read_from(&ggreq->body, &ggreq->offset, buffer, buffer_size, amount_read);
}

/* ---- calls to functions (E1 + E2) ----------------------------------------------------------- */

enum call_kind { KIND_LAMBDA, KIND_PUBLISH, KIND_SHADOW, KIND_SECRET };

static void set_status(gg_request_result* result, gg_request_status s) {
  if (result != NULL) result->request_status = s;
}

static void take_body(gg_request req, gg_http_response* resp) {
  gg_buf t = req->body;
  req->body = resp->body;
  resp->body = t;
  gg_buf_reset(&resp->body);
  req->offset = 0;
  if (req->body.data == NULL) gg_buf_append(&req->body, "", 0);
}

/* POST to the target (E1) and, for RequestResponse, GET its result (E2). The response body
 * (result, error document, or the core's error) is left in req for gg_request_read. */
static gg_error call_function(gg_request req, const char* arn, int request_response,
                              const char* client_context, const void* payload, size_t n,
                              gg_request_result* result, enum call_kind kind) {
  gg_buf path;
  gg_http_response resp;
  gg_header h[2];
  size_t nh = 0;
  int rc;
  gg_error err = GGE_SUCCESS;
  if (g_token == NULL) {
    sdk_log(GG_LOG_ERROR,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN is not set: run this executable as a "
            "Greengrass Lambda function");
    return GGE_INVALID_STATE;
  }
  gg_buf_init(&path);
  if (gg_buf_append_str(&path, GG_FUNCTIONS_PATH) || gg_buf_append_str(&path, arn)) {
    gg_buf_free(&path);
    return GGE_OUT_OF_MEMORY;
  }
  gg_http_response_init(&resp, GG_SDK_MAX_HEADER_BYTES, GG_SDK_MAX_BODY_BYTES);
  h[nh].name = "X-Amz-Invocation-Type";
  h[nh++].value = request_response ? "RequestResponse" : "Event";
  if (client_context != NULL && *client_context != 0) {
    h[nh].name = "X-Amz-Client-Context";
    h[nh++].value = client_context;
  }
  gg_request_reuse(req);
  rc = roundtrip("POST", (const char*)path.data, h, nh, payload, n, &resp, 1);
  if (rc != IO_OK) {
    err = io_error(rc);
    goto done;
  }
  if (resp.status < 200 || resp.status > 299) {
    take_body(req, &resp);
    if (resp.status == 429) {
      set_status(result, GG_REQUEST_AGAIN);
    } else {
      sdk_log(GG_LOG_WARN, "%s refused by the core: HTTP %d %s", arn, resp.status,
              (const char*)req->body.data);
      set_status(result, GG_REQUEST_UNKNOWN);
    }
    goto done;
  }
  if (!request_response) {
    set_status(result, GG_REQUEST_SUCCESS);
    goto done;
  }
  if (resp.invocation_id[0] == 0 || !gg_path_token_ok(resp.invocation_id)) {
    sdk_log(GG_LOG_ERROR, "%s: the core returned no usable X-Amz-InvocationId", arn);
    err = GGE_INTERNAL_FAILURE;
    goto done;
  }
  {
    char id[sizeof(resp.invocation_id)];
    memcpy(id, resp.invocation_id, sizeof(id));
    h[0].name = "X-Amz-InvocationId";
    h[0].value = id;
    rc = roundtrip("GET", (const char*)path.data, h, 1, NULL, 0, &resp, 1);
  }
  if (rc != IO_OK) {
    err = io_error(rc);
    goto done;
  }
  take_body(req, &resp);
  if (resp.status != 200) {
    sdk_log(GG_LOG_WARN, "result of %s: HTTP %d %s", arn, resp.status, (const char*)req->body.data);
    set_status(result, resp.status == 429 ? GG_REQUEST_AGAIN : GG_REQUEST_UNKNOWN);
  } else if (resp.function_error[0] == 0) {
    gg_request_status s = GG_REQUEST_SUCCESS;
    /* The shadow and secret services answer errors with an empty function error and an
     * error document ({code,message} / {Status,Message}); report those as HANDLED. */
    if (kind == KIND_SHADOW &&
        gg_json_has_top_level_key((const char*)req->body.data, req->body.len, "code") &&
        gg_json_has_top_level_key((const char*)req->body.data, req->body.len, "message")) {
      s = GG_REQUEST_HANDLED;
    } else if (kind == KIND_SECRET &&
               gg_json_has_top_level_key((const char*)req->body.data, req->body.len, "Status") &&
               gg_json_has_top_level_key((const char*)req->body.data, req->body.len, "Message")) {
      s = GG_REQUEST_HANDLED;
    }
    set_status(result, s);
  } else if (strcmp(resp.function_error, "Handled") == 0) {
    set_status(result, GG_REQUEST_HANDLED);
  } else if (strcmp(resp.function_error, "Unhandled") == 0) {
    set_status(result, GG_REQUEST_UNHANDLED);
  } else {
    set_status(result, GG_REQUEST_UNKNOWN);
  }
done:
  gg_http_response_free(&resp);
  gg_buf_free(&path);
  return err;
}

gg_error gg_invoke(gg_request ggreq, const gg_invoke_options* opts, gg_request_result* result) {
  gg_buf arn;
  gg_error e;
  int rc;
  if (ggreq == NULL || opts == NULL || opts->function_arn == NULL ||
      (opts->payload == NULL && opts->payload_size > 0)) {
    return GGE_INVALID_PARAMETER;
  }
  if (opts->type != GG_INVOKE_EVENT && opts->type != GG_INVOKE_REQUEST_RESPONSE) {
    sdk_log(GG_LOG_ERROR, "gg_invoke: invalid invocation type %d", (int)opts->type);
    return GGE_INVALID_PARAMETER;
  }
  if (opts->customer_context != NULL && *opts->customer_context != 0 &&
      !gg_base64_charset_ok(opts->customer_context)) {
    sdk_log(GG_LOG_ERROR, "gg_invoke: customer_context must be base64-encoded JSON");
    return GGE_INVALID_PARAMETER;
  }
  ensure_env();
  gg_buf_init(&arn);
  rc = gg_build_invoke_arn(&arn, opts->function_arn, opts->qualifier);
  if (rc != 0) {
    gg_buf_free(&arn);
    if (rc == -1) return GGE_OUT_OF_MEMORY;
    sdk_log(GG_LOG_ERROR, "gg_invoke: function ARN \"%s\" (qualifier \"%s\") is invalid",
            opts->function_arn, opts->qualifier ? opts->qualifier : "");
    return GGE_INVALID_PARAMETER;
  }
  e = call_function(ggreq, (const char*)arn.data, opts->type == GG_INVOKE_REQUEST_RESPONSE,
                    opts->customer_context, opts->payload, opts->payload_size, result, KIND_LAMBDA);
  gg_buf_free(&arn);
  return e;
}

/* base64({"custom":{<k1>:<v1>,...}}) for the system services. */
static int custom_context(gg_buf* out, const char* const* kv, size_t n) {
  gg_buf j;
  size_t i;
  int rc = 0;
  gg_buf_init(&j);
  rc |= gg_buf_append_str(&j, "{\"custom\":{");
  for (i = 0; i + 1 < n; i += 2) {
    if (i > 0) rc |= gg_buf_append_str(&j, ",");
    rc |= gg_json_append_string(&j, kv[i]);
    rc |= gg_buf_append_str(&j, ":");
    rc |= gg_json_append_string(&j, kv[i + 1]);
  }
  rc |= gg_buf_append_str(&j, "}}");
  if (rc == 0) rc = gg_base64_encode(out, j.data, j.len);
  gg_buf_free(&j);
  return rc;
}

/* ---- publish -------------------------------------------------------------------------------- */

gg_error gg_publish_options_init(gg_publish_options* opts) {
  gg_publish_options o;
  if (opts == NULL) return GGE_INVALID_PARAMETER;
  o = (gg_publish_options)calloc(1, sizeof(*o));
  if (o == NULL) return GGE_OUT_OF_MEMORY;
  o->policy = GG_QUEUE_FULL_POLICY_BEST_EFFORT;
  *opts = o;
  return GGE_SUCCESS;
}

gg_error gg_publish_options_free(gg_publish_options opts) {
  if (opts == NULL) return GGE_INVALID_PARAMETER;
  free(opts);
  return GGE_SUCCESS;
}

gg_error gg_publish_options_set_queue_full_policy(gg_publish_options opts,
                                                  gg_queue_full_policy_options policy) {
  if (opts == NULL ||
      (policy != GG_QUEUE_FULL_POLICY_BEST_EFFORT && policy != GG_QUEUE_FULL_POLICY_ALL_OR_ERROR)) {
    return GGE_INVALID_PARAMETER;
  }
  opts->policy = policy;
  return GGE_SUCCESS;
}

gg_error gg_publish_with_options(gg_request ggreq, const char* topic, const void* payload,
                                 size_t payload_size, const gg_publish_options opts,
                                 gg_request_result* result) {
  gg_buf ctx;
  gg_error e;
  const char* kv[6];
  if (ggreq == NULL || topic == NULL || *topic == 0 || (payload == NULL && payload_size > 0)) {
    return GGE_INVALID_PARAMETER;
  }
  ensure_env();
  kv[0] = "source";
  kv[1] = g_function_arn != NULL ? g_function_arn : "";
  kv[2] = "subject";
  kv[3] = topic;
  kv[4] = "queueFullPolicy";
  kv[5] = opts == NULL                                        ? ""
          : opts->policy == GG_QUEUE_FULL_POLICY_ALL_OR_ERROR ? "AllOrError"
                                                              : "BestEffort";
  gg_buf_init(&ctx);
  if (custom_context(&ctx, kv, 6) != 0) {
    gg_buf_free(&ctx);
    return GGE_OUT_OF_MEMORY;
  }
  e = call_function(ggreq, g_router_arn, 0, (const char*)ctx.data, payload, payload_size, result,
                    KIND_PUBLISH);
  gg_buf_free(&ctx);
  return e;
}

gg_error gg_publish(gg_request ggreq, const char* topic, const void* payload, size_t payload_size,
                    gg_request_result* result) {
  return gg_publish_with_options(ggreq, topic, payload, payload_size, NULL, result);
}

/* ---- shadow --------------------------------------------------------------------------------- */

static gg_error shadow_op(gg_request ggreq, const char* thing, const char* op, const char* body,
                          gg_request_result* result) {
  gg_buf subject, ctx;
  gg_error e;
  const char* kv[2];
  if (ggreq == NULL || thing == NULL || *thing == 0 || strchr(thing, '/') != NULL ||
      strchr(thing, '#') != NULL || strchr(thing, '+') != NULL) {
    return GGE_INVALID_PARAMETER;
  }
  ensure_env();
  gg_buf_init(&subject);
  gg_buf_init(&ctx);
  if (gg_buf_append_str(&subject, "$aws/things/") || gg_buf_append_str(&subject, thing) ||
      gg_buf_append_str(&subject, "/shadow/") || gg_buf_append_str(&subject, op)) {
    e = GGE_OUT_OF_MEMORY;
  } else {
    kv[0] = "subject";
    kv[1] = (const char*)subject.data;
    e = custom_context(&ctx, kv, 2) != 0
            ? GGE_OUT_OF_MEMORY
            : call_function(ggreq, g_shadow_arn, 1, (const char*)ctx.data, body,
                            body ? strlen(body) : 0, result, KIND_SHADOW);
  }
  gg_buf_free(&subject);
  gg_buf_free(&ctx);
  return e;
}

gg_error gg_get_thing_shadow(gg_request ggreq, const char* thing_name, gg_request_result* result) {
  return shadow_op(ggreq, thing_name, "get", NULL, result);
}

gg_error gg_update_thing_shadow(gg_request ggreq, const char* thing_name,
                                const char* update_payload, gg_request_result* result) {
  if (update_payload == NULL) return GGE_INVALID_PARAMETER;
  return shadow_op(ggreq, thing_name, "update", update_payload, result);
}

gg_error gg_delete_thing_shadow(gg_request ggreq, const char* thing_name,
                                gg_request_result* result) {
  return shadow_op(ggreq, thing_name, "delete", NULL, result);
}

/* ---- secrets -------------------------------------------------------------------------------- */

gg_error gg_get_secret_value(gg_request ggreq, const char* secret_id, const char* version_id,
                             const char* version_stage, gg_request_result* result) {
  gg_buf body;
  gg_error e;
  int rc = 0;
  if (ggreq == NULL || secret_id == NULL || *secret_id == 0) return GGE_INVALID_PARAMETER;
  if (version_id != NULL) {
    sdk_log(GG_LOG_ERROR, "gg_get_secret_value: query by version_id is not yet supported");
    return GGE_INVALID_PARAMETER;
  }
  ensure_env();
  gg_buf_init(&body);
  rc |= gg_buf_append_str(&body, "{\"SecretId\":");
  rc |= gg_json_append_string(&body, secret_id);
  if (version_stage != NULL && *version_stage != 0) {
    rc |= gg_buf_append_str(&body, ",\"VersionStage\":");
    rc |= gg_json_append_string(&body, version_stage);
  }
  rc |= gg_buf_append_str(&body, "}");
  e = rc != 0
          ? GGE_OUT_OF_MEMORY
          : call_function(ggreq, g_secrets_arn, 1, NULL, body.data, body.len, result, KIND_SECRET);
  gg_buf_free(&body);
  return e;
}

/* ---- runtime -------------------------------------------------------------------------------- */

static pthread_mutex_t g_rt_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_rt_started;
static gg_lambda_handler g_handler;

/* The invocation being handled (guarded by g_inv_mu; handlers may use helper threads). */
static pthread_mutex_t g_inv_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_inv_active;
static gg_buf g_inv_event;
static size_t g_inv_offset;
static gg_buf g_inv_response;
static gg_buf g_inv_error; /* JSON error body; non-empty = Handled */

static void on_sigterm(int sig) {
  int saved = errno;
  (void)sig;
  g_terminated = 1;
  if (g_wake[1] >= 0) {
    ssize_t w = write(g_wake[1], "x", 1);
    (void)w;
  }
  errno = saved;
}

/* Waits ms or until SIGTERM; returns 1 when terminated. */
static int wait_or_term(int ms) {
  struct pollfd p;
  p.fd = g_wake[0];
  p.events = POLLIN;
  p.revents = 0;
  if (poll(&p, 1, ms) > 0 || g_terminated) return 1;
  return 0;
}

gg_error gg_lambda_handler_read(void* buffer, size_t buffer_size, size_t* amount_read) {
  gg_error e;
  pthread_mutex_lock(&g_inv_mu);
  e = g_inv_active ? read_from(&g_inv_event, &g_inv_offset, buffer, buffer_size, amount_read)
                   : GGE_INVALID_STATE;
  pthread_mutex_unlock(&g_inv_mu);
  return e;
}

gg_error gg_lambda_handler_write_response(const void* response, size_t response_size) {
  gg_error e = GGE_SUCCESS;
  if (response == NULL && response_size > 0) return GGE_INVALID_PARAMETER;
  pthread_mutex_lock(&g_inv_mu);
  if (!g_inv_active) {
    e = GGE_INVALID_STATE;
  } else if (gg_buf_append(&g_inv_response, response, response_size) != 0) {
    e = GGE_OUT_OF_MEMORY;
  }
  pthread_mutex_unlock(&g_inv_mu);
  return e;
}

gg_error gg_lambda_handler_write_error(const char* error_message) {
  gg_error e = GGE_SUCCESS;
  if (error_message == NULL) return GGE_INVALID_PARAMETER;
  pthread_mutex_lock(&g_inv_mu);
  if (!g_inv_active) {
    e = GGE_INVALID_STATE;
  } else {
    gg_buf_reset(&g_inv_error);
    if (gg_buf_append_str(&g_inv_error, "{\"errorMessage\":") ||
        gg_json_append_string(&g_inv_error, error_message) ||
        gg_buf_append_str(&g_inv_error, ",\"errorType\":\"HandledError\"}")) {
      gg_buf_reset(&g_inv_error);
      e = GGE_OUT_OF_MEMORY;
    }
  }
  pthread_mutex_unlock(&g_inv_mu);
  return e;
}

/* Runs the handler on one work item and posts its result (E4 / E5). */
static void run_one(const char* work_path, gg_http_response* work) {
  gg_buf ctx;
  gg_lambda_context c;
  gg_header h[2];
  size_t nh = 0;
  char id[sizeof(work->invocation_id)];
  int rc, handled;
  gg_buf_init(&ctx);
  memcpy(id, work->invocation_id, sizeof(id));
  if (work->client_context.len > 0) {
    /* the handler sees the decoded JSON text; undecodable values are passed through */
    if (gg_base64_decode(&ctx, (const char*)work->client_context.data, work->client_context.len) !=
        0) {
      gg_buf_reset(&ctx);
      gg_buf_append(&ctx, work->client_context.data, work->client_context.len);
    }
  }
  pthread_mutex_lock(&g_inv_mu);
  {
    gg_buf t = g_inv_event;
    g_inv_event = work->body;
    work->body = t;
  }
  g_inv_offset = 0;
  gg_buf_reset(&g_inv_response);
  gg_buf_reset(&g_inv_error);
  g_inv_active = 1;
  pthread_mutex_unlock(&g_inv_mu);

  c.function_arn = g_function_arn;
  c.client_context = ctx.data != NULL ? (const char*)ctx.data : "";
  g_handler(&c);

  pthread_mutex_lock(&g_inv_mu);
  g_inv_active = 0;
  handled = g_inv_error.len > 0;
  pthread_mutex_unlock(&g_inv_mu);
  if (!gg_path_token_ok(id)) {
    sdk_log(GG_LOG_ERROR, "work item without a usable X-Amz-InvocationId: result dropped");
    gg_buf_free(&ctx);
    return;
  }
  h[nh].name = "X-Amz-InvocationId";
  h[nh++].value = id;
  if (handled) {
    h[nh].name = "X-Amz-Function-Error";
    h[nh++].value = "Handled";
  }
  /* not wakeable: a result computed before SIGTERM is still delivered */
  rc = roundtrip("POST", work_path, h, nh, handled ? g_inv_error.data : g_inv_response.data,
                 handled ? g_inv_error.len : g_inv_response.len, work, 0);
  if (rc != IO_OK) {
    sdk_log(GG_LOG_ERROR, "posting the result of invocation %s failed", id);
  } else if (work->status < 200 || work->status > 299) {
    sdk_log(GG_LOG_WARN, "the core refused the result of invocation %s: HTTP %d", id, work->status);
  }
  gg_buf_free(&ctx);
}

/* The work loop: E3 long poll -> handler -> E4/E5, until SIGTERM. */
static gg_error run_loop(void) {
  gg_buf path;
  gg_http_response work;
  int failures = 0;
  gg_error result = GGE_TERMINATE;
  gg_buf_init(&path);
  if (gg_buf_append_str(&path, GG_FUNCTIONS_PATH) || gg_buf_append_str(&path, g_function_arn) ||
      gg_buf_append_str(&path, "/work")) {
    gg_buf_free(&path);
    return GGE_OUT_OF_MEMORY;
  }
  gg_http_response_init(&work, GG_SDK_MAX_HEADER_BYTES, GG_SDK_MAX_BODY_BYTES);
  while (!g_terminated) {
    int rc = roundtrip("GET", (const char*)path.data, NULL, 0, NULL, 0, &work, 1);
    if (rc == IO_TERM) break;
    if (rc != IO_OK || work.status != 200) {
      int delay = 50 << (failures < 6 ? failures : 6);
      ++failures;
      if (rc == IO_OK) {
        sdk_log(GG_LOG_WARN, "getting work failed: HTTP %d %s", work.status,
                work.body.data ? (const char*)work.body.data : "");
      }
      if (failures >= GG_SDK_MAX_WORK_FAILURES) {
        sdk_log(GG_LOG_ERROR, "getting work failed %d times in a row; runtime stops", failures);
        result = GGE_INTERNAL_FAILURE;
        break;
      }
      if (wait_or_term(delay > 2000 ? 2000 : delay)) break;
      continue;
    }
    failures = 0;
    run_one((const char*)path.data, &work);
  }
  gg_http_response_free(&work);
  gg_buf_free(&path);
  return result;
}

static void* runtime_thread(void* arg) {
  gg_error e;
  (void)arg;
  e = run_loop();
  /* GG_RT_OPT_ASYNC: the process ends with the runtime (0 after SIGTERM, 1 when the core
   * stayed unreachable, so the core restarts the function). */
  exit(e == GGE_TERMINATE ? 0 : 1);
  return NULL;
}

gg_error gg_runtime_start(gg_lambda_handler handler, uint32_t opt) {
  struct sigaction sa;
  if (handler == NULL || (opt & ~(uint32_t)GG_RT_OPT_ASYNC) != 0) return GGE_INVALID_PARAMETER;
  ensure_env();
  if (g_function_arn == NULL || g_token == NULL) {
    sdk_log(GG_LOG_ERROR,
            "gg_runtime_start: MY_FUNCTION_ARN and AWS_CONTAINER_AUTHORIZATION_TOKEN are not "
            "set: run this executable as a Greengrass Lambda function");
    return GGE_INVALID_STATE;
  }
  pthread_mutex_lock(&g_rt_mu);
  if (g_rt_started) {
    pthread_mutex_unlock(&g_rt_mu);
    return GGE_INVALID_STATE;
  }
  if (pipe2(g_wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    pthread_mutex_unlock(&g_rt_mu);
    return GGE_INTERNAL_FAILURE;
  }
  g_rt_started = 1;
  g_handler = handler;
  pthread_mutex_unlock(&g_rt_mu);

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_sigterm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, NULL);

  if (opt & GG_RT_OPT_ASYNC) {
    pthread_t t;
    pthread_attr_t attr;
    int rc;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &attr, runtime_thread, NULL);
    pthread_attr_destroy(&attr);
    return rc == 0 ? GGE_SUCCESS : GGE_INTERNAL_FAILURE;
  }
  return run_loop();
}
