/*
 * Test Lambda executable for tests/integration/test_13_c_*.py, built with plain `cc` against the
 * installed greengrasssdk.h and libaws-greengrass-core-sdk-c.so only.
 *
 * The event (binary) is a command "<op> <args>"; a JSON string ("...", as the Python SDK's
 * invoker sends it) is unquoted first. The response is also published to "c/out" when the
 * invocation came from a subscription (client context has a subject).
 *   echo X            -> "c-echo:X"
 *   count             -> "count=N pid=P" (N counts invocations of this process)
 *   error X           -> gg_lambda_handler_write_error(X)          (caller: Handled)
 *   crash             -> abort()                                    (caller: Unhandled)
 *   sleep N           -> sleeps N seconds, then "slept"
 *   publish T X       -> gg_publish(T, X) -> "published:<status>"
 *   aoe T X           -> gg_publish_with_options(AllOrError) -> "published:<status>"
 *   binary            -> the 256 bytes 0..255 (also published to c/out)
 *   invoke ARN X      -> gg_invoke RequestResponse -> "invoke:<status>:<body>"
 *   log X             -> gg_log(INFO, X), "logged"
 *   context           -> the client context the handler saw
 *   arn               -> the function ARN the handler saw
 *   {...JSON...}      -> chain hop: the event with "c" appended to its "path" list
 * Environment: C_LAMBDA_ASYNC=1 starts the runtime with GG_RT_OPT_ASYNC.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "greengrasssdk.h"

static int g_count;

static void reply(const gg_lambda_context* cxt, const void* data, size_t n) {
  gg_lambda_handler_write_response(data, n);
  if (strstr(cxt->client_context, "\"subject\"") != NULL) {
    gg_request req;
    gg_request_result res;
    if (gg_request_init(&req) == GGE_SUCCESS) {
      gg_publish(req, "c/out", data, n, &res);
      gg_request_close(req);
    }
  }
}

static void reply_str(const gg_lambda_context* cxt, const char* s) { reply(cxt, s, strlen(s)); }

static char* read_event(size_t* len) {
  size_t cap = 16, n = 0, got = 0;
  char* buf = malloc(cap + 1);
  do {
    if (cap - n < 7) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
    }
    /* small reads on purpose: the SDK must hand the event out in pieces until 0 */
    if (gg_lambda_handler_read(buf + n, 7, &got) != GGE_SUCCESS) break;
    n += got;
  } while (got > 0);
  buf[n] = 0;
  if (n >= 2 && buf[0] == '"' && buf[n - 1] == '"') {
    memmove(buf, buf + 1, n - 2);
    n -= 2;
    buf[n] = 0;
  }
  *len = n;
  return buf;
}

static void do_publish(const gg_lambda_context* cxt, char* args, int all_or_error) {
  char out[64];
  char* sp = strchr(args, ' ');
  const char* payload = sp ? sp + 1 : "";
  gg_request req;
  gg_request_result res;
  gg_error e;
  if (sp) *sp = 0;
  gg_request_init(&req);
  res.request_status = GG_REQUEST_RESERVED_MAX;
  if (all_or_error) {
    gg_publish_options o;
    gg_publish_options_init(&o);
    gg_publish_options_set_queue_full_policy(o, GG_QUEUE_FULL_POLICY_ALL_OR_ERROR);
    e = gg_publish_with_options(req, args, payload, strlen(payload), o, &res);
    gg_publish_options_free(o);
  } else {
    e = gg_publish(req, args, payload, strlen(payload), &res);
  }
  gg_request_close(req);
  snprintf(out, sizeof(out), "published:%d:%d", (int)e, (int)res.request_status);
  reply_str(cxt, out);
}

static void do_invoke(const gg_lambda_context* cxt, char* args) {
  char* sp = strchr(args, ' ');
  const char* payload = sp ? sp + 1 : "";
  gg_request req;
  gg_request_result res;
  gg_invoke_options opts;
  char body[4096], out[4200];
  size_t total = 0, got = 0;
  gg_error e;
  if (sp) *sp = 0;
  memset(&opts, 0, sizeof(opts));
  opts.function_arn = args;
  opts.type = GG_INVOKE_REQUEST_RESPONSE;
  opts.payload = payload;
  opts.payload_size = strlen(payload);
  gg_request_init(&req);
  e = gg_invoke(req, &opts, &res);
  if (e == GGE_SUCCESS) {
    do {
      gg_request_read(req, body + total, sizeof(body) - 1 - total, &got);
      total += got;
    } while (got > 0);
  }
  body[total] = 0;
  gg_request_close(req);
  snprintf(out, sizeof(out), "invoke:%d:%d:%s", (int)e, (int)res.request_status, body);
  reply_str(cxt, out);
}

static void handler(const gg_lambda_context* cxt) {
  size_t n;
  char* ev = read_event(&n);
  char* args = strchr(ev, ' ');
  char out[256];
  if (ev[0] == '{') { /* chain hop (test_14_chain.py): append "c" to the JSON "path" list */
    char* path = strstr(ev, "\"path\":[");
    char* close = path ? strchr(path, ']') : NULL;
    if (close == NULL) {
      gg_lambda_handler_write_error("chain event without a path list");
    } else {
      gg_lambda_handler_write_response(ev, (size_t)(close - ev));
      gg_lambda_handler_write_response(",\"c\"", 4);
      gg_lambda_handler_write_response(close, strlen(close));
    }
    free(ev);
    return;
  }
  if (args)
    *args++ = 0;
  else
    args = ev + strlen(ev);
  if (strcmp(ev, "echo") == 0) {
    snprintf(out, sizeof(out), "c-echo:%s", args);
    reply_str(cxt, out);
  } else if (strcmp(ev, "count") == 0) {
    snprintf(out, sizeof(out), "count=%d pid=%d", ++g_count, (int)getpid());
    reply_str(cxt, out);
  } else if (strcmp(ev, "error") == 0) {
    gg_lambda_handler_write_error(args);
  } else if (strcmp(ev, "crash") == 0) {
    abort();
  } else if (strcmp(ev, "sleep") == 0) {
    sleep((unsigned)atoi(args));
    reply_str(cxt, "slept");
  } else if (strcmp(ev, "publish") == 0) {
    do_publish(cxt, args, 0);
  } else if (strcmp(ev, "aoe") == 0) {
    do_publish(cxt, args, 1);
  } else if (strcmp(ev, "binary") == 0) {
    unsigned char b[256];
    int i;
    for (i = 0; i < 256; ++i) b[i] = (unsigned char)i;
    reply(cxt, b, sizeof(b));
  } else if (strcmp(ev, "invoke") == 0) {
    do_invoke(cxt, args);
  } else if (strcmp(ev, "log") == 0) {
    gg_log(GG_LOG_INFO, "%s", args);
    reply_str(cxt, "logged");
  } else if (strcmp(ev, "context") == 0) {
    reply_str(cxt, cxt->client_context);
  } else if (strcmp(ev, "arn") == 0) {
    reply_str(cxt, cxt->function_arn);
  } else {
    snprintf(out, sizeof(out), "unknown op: %.200s", ev);
    gg_lambda_handler_write_error(out);
  }
  free(ev);
}

int main(void) {
  gg_error e = gg_global_init(0);
  const char* async = getenv("C_LAMBDA_ASYNC");
  if (e != GGE_SUCCESS) return 10;
  gg_log(GG_LOG_INFO, "c_lambda starting (pid %d, async %s)", (int)getpid(), async ? async : "0");
  if (async && strcmp(async, "1") == 0) {
    e = gg_runtime_start(handler, GG_RT_OPT_ASYNC);
    gg_log(GG_LOG_INFO, "async runtime started: %d", (int)e);
    for (;;) pause();
  }
  e = gg_runtime_start(handler, 0);
  gg_log(GG_LOG_INFO, "runtime returned %d", (int)e);
  return e == GGE_TERMINATE ? 0 : 1;
}
