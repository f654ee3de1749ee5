/* Benchmark Lambda executable (bench/c_lambda_bench.py): answers with the event and, when
 * invoked from a subscription, also publishes it to bench/out. */
#include <stdlib.h>
#include <string.h>

#include "greengrasssdk.h"

static char g_buf[65536];

static void handler(const gg_lambda_context* cxt) {
  size_t n = 0, got = 0;
  do {
    if (gg_lambda_handler_read(g_buf + n, sizeof(g_buf) - n, &got) != GGE_SUCCESS) return;
    n += got;
  } while (got > 0 && n < sizeof(g_buf));
  if (strstr(cxt->client_context, "\"subject\"") != NULL) {
    gg_request req;
    gg_request_result res;
    if (gg_request_init(&req) == GGE_SUCCESS) {
      gg_publish(req, "bench/out", g_buf, n, &res);
      gg_request_close(req);
    }
  }
  gg_lambda_handler_write_response(g_buf, n);
}

int main(void) {
  if (gg_global_init(0) != GGE_SUCCESS) return 1;
  return gg_runtime_start(handler, 0) == GGE_TERMINATE ? 0 : 1;
}
