/*
 * c_hello: a Greengrass v1 Lambda executable in C (runtime
 * arn:aws:greengrass:::runtime/function/executable, handler "c_hello", EncodingType binary).
 *
 * Every invocation publishes "Hello from C: <event>" to hello/c/out and answers with the same
 * text, so it works both from a subscription and from a RequestResponse invoke.
 *
 * Build (see README.md): cc -I<prefix>/include c_hello.c -o c_hello -L<prefix>/lib
 *                           -laws-greengrass-core-sdk-c
 */
#include <stdio.h>
#include <string.h>

#include "greengrasssdk.h"

#define MAX_EVENT 1024

static void handler(const gg_lambda_context* cxt) {
  char event[MAX_EVENT + 1];
  char reply[MAX_EVENT + 64];
  size_t total = 0, got = 0;
  gg_request req;
  gg_request_result res;

  /* Read the event until the SDK reports 0 bytes. */
  do {
    if (gg_lambda_handler_read(event + total, MAX_EVENT - total, &got) != GGE_SUCCESS) {
      gg_lambda_handler_write_error("could not read the event");
      return;
    }
    total += got;
  } while (got > 0 && total < MAX_EVENT);
  event[total] = '\0';

  snprintf(reply, sizeof(reply), "Hello from C: %s", event);
  gg_log(GG_LOG_INFO, "invoked by %s (client context %s)", cxt->function_arn, cxt->client_context);

  if (gg_request_init(&req) == GGE_SUCCESS) {
    if (gg_publish(req, "hello/c/out", reply, strlen(reply), &res) != GGE_SUCCESS ||
        res.request_status != GG_REQUEST_SUCCESS) {
      gg_log(GG_LOG_WARN, "publish to hello/c/out failed (status %d)", (int)res.request_status);
    }
    gg_request_close(req);
  }
  gg_lambda_handler_write_response(reply, strlen(reply));
}

int main(void) {
  gg_error err = gg_global_init(0);
  if (err != GGE_SUCCESS) {
    fprintf(stderr, "gg_global_init failed: %d\n", (int)err);
    return 1;
  }
  /* Blocks until the core stops the function (SIGTERM -> GGE_TERMINATE). */
  err = gg_runtime_start(handler, 0);
  return err == GGE_TERMINATE ? 0 : 1;
}
