/*
 * greengrasssdk.h -- the AWS IoT Greengrass v1 Core SDK for C, interface version 1.2.0.
 *
 * Written for Evergreen from the published API description (names, values and struct layouts
 * are interface facts and match the v1.2.0 header, so binaries built against the genuine header
 * and stub library run against Evergreen's libaws-greengrass-core-sdk-c.so).
 *
 * C89-compatible. Link with -laws-greengrass-core-sdk-c.
 *
 * Symbol versions (see greengrasssdk_versions.map):
 *   aws_greengrass_core_sdk_c_1.0  everything not listed below
 *   aws_greengrass_core_sdk_c_1.1  gg_get_secret_value
 *   aws_greengrass_core_sdk_c_1.2  gg_publish_options_*, gg_publish_with_options
 */
#ifndef _GREENGRASS_SDK_H_
#define _GREENGRASS_SDK_H_

#ifdef __cplusplus
extern "C" {
#endif

#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

/* ---------------------------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------------------------- */

/* Return value of every gg_* function. */
typedef enum gg_error {
  GGE_SUCCESS = 0,       /* success */
  GGE_OUT_OF_MEMORY,     /* the process is out of memory */
  GGE_INVALID_PARAMETER, /* an argument is invalid */
  GGE_INVALID_STATE,     /* the SDK is in a state where the call is not allowed */
  GGE_INTERNAL_FAILURE,  /* the SDK failed internally (e.g. the core is unreachable) */
  GGE_TERMINATE,         /* the process received a terminate signal (SIGTERM) */
  GGE_RESERVED_MAX,
  GGE_RESERVED_PAD = 0x7FFFFFFF
} gg_error;

/* Per-request context (gg_request_init / gg_request_close). */
typedef struct _gg_request* gg_request;

/* Outcome of gg_invoke, gg_publish*, gg_*_thing_shadow and gg_get_secret_value. */
typedef enum gg_request_status {
  GG_REQUEST_SUCCESS = 0, /* the call returned the expected payload */
  GG_REQUEST_HANDLED,     /* the call reached the target, which answered with an error */
  GG_REQUEST_UNHANDLED,   /* the target exited abnormally (crash, timeout) */
  GG_REQUEST_UNKNOWN,     /* the system met an unknown error; see the logs */
  GG_REQUEST_AGAIN,       /* throttled (e.g. queue full under AllOrError): try again */
  GG_REQUEST_RESERVED_MAX,
  GG_REQUEST_RESERVED_PAD = 0x7FFFFFFF
} gg_request_status;

typedef struct gg_request_result {
  gg_request_status request_status;
} gg_request_result;

/* What a Lambda handler is called with. Both strings are null-terminated. */
typedef struct gg_lambda_context {
  const char* function_arn;
  const char* client_context;
} gg_lambda_context;

typedef enum gg_invoke_type {
  GG_INVOKE_EVENT,            /* asynchronous (a zeroed options struct means Event) */
  GG_INVOKE_REQUEST_RESPONSE, /* synchronous: the result is read with gg_request_read */
  GG_INVOKE_RESERVED_MAX,
  GG_INVOKE_RESERVED_PAD = 0x7FFFFFFF
} gg_invoke_type;

/* Flags of gg_runtime_start(.., opt). */
typedef enum gg_runtime_opt {
  GG_RT_OPT_ASYNC = 0x1, /* run the runtime on a new thread; it ends when the process does */
  GG_RT_OPT_RESERVED_PAD = 0x7FFFFFFF
} gg_runtime_opt;

/*
 * function_arn      full ARN of the function to invoke
 * customer_context  base64 of a JSON object, or NULL
 * qualifier         version or alias, or NULL
 * type              Event or RequestResponse
 * payload           bytes sent to the function (payload_size of them)
 */
typedef struct gg_invoke_options {
  const char* function_arn;
  const char* customer_context;
  const char* qualifier;
  gg_invoke_type type;
  const void* payload;
  size_t payload_size;
} gg_invoke_options;

typedef enum gg_log_level {
  GG_LOG_RESERVED_NOTSET,
  GG_LOG_DEBUG,
  GG_LOG_INFO,
  GG_LOG_WARN,
  GG_LOG_ERROR,
  GG_LOG_FATAL, /* the system will exit */
  GG_LOG_RESERVED_MAX,
  GG_LOG_RESERVED_PAD = 0x7FFFFFFF
} gg_log_level;

/* Publish options (since 1.2.0). */
typedef struct _gg_publish_options* gg_publish_options;

typedef enum gg_queue_full_policy_options {
  GG_QUEUE_FULL_POLICY_BEST_EFFORT,  /* deliver to the targets that have room */
  GG_QUEUE_FULL_POLICY_ALL_OR_ERROR, /* deliver to all targets or none (GG_REQUEST_AGAIN) */
  GG_QUEUE_FULL_POLICY_RESERVED_MAX,
  GG_QUEUE_FULL_POLICY_RESERVED_PAD = 0x7FFFFFFF
} gg_queue_full_policy_options;

/* ---------------------------------------------------------------------------------------------
 * Global
 * ------------------------------------------------------------------------------------------- */

/* Initialises the SDK. opt must be 0. Not thread-safe: call it first, before creating threads. */
gg_error gg_global_init(uint32_t opt);

/* ---------------------------------------------------------------------------------------------
 * Logging
 * ------------------------------------------------------------------------------------------- */

/* printf-style message into the function's log at the given level. */
gg_error gg_log(gg_log_level level, const char* format, ...);

/* ---------------------------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------------------------- */

/* Creates a request context; release it with gg_request_close. */
gg_error gg_request_init(gg_request* ggreq);

gg_error gg_request_close(gg_request ggreq);

/* Reads the response of the last call made with ggreq; call until *amount_read is 0. */
gg_error gg_request_read(gg_request ggreq, void* buffer, size_t buffer_size, size_t* amount_read);

/* ---------------------------------------------------------------------------------------------
 * Runtime
 * ------------------------------------------------------------------------------------------- */

typedef void (*gg_lambda_handler)(const gg_lambda_context* cxt);

/* Registers the handler and runs the work loop: blocks (returns GGE_TERMINATE after SIGTERM)
 * unless opt has GG_RT_OPT_ASYNC. Installs (overwrites) the SIGTERM handler. */
gg_error gg_runtime_start(gg_lambda_handler handler, uint32_t opt);

/* Inside the handler: reads the event; call until *amount_read is 0. */
gg_error gg_lambda_handler_read(void* buffer, size_t buffer_size, size_t* amount_read);

/* Inside the handler: the response (empty if never called). */
gg_error gg_lambda_handler_write_response(const void* response, size_t response_size);

/* Inside the handler: the invoker sees GG_REQUEST_HANDLED and this message. */
gg_error gg_lambda_handler_write_error(const char* error_message);

/* ---------------------------------------------------------------------------------------------
 * Secrets Manager (since 1.1.0)
 * ------------------------------------------------------------------------------------------- */

/* version_id must be NULL (not supported by Greengrass); version_stage may be NULL. The JSON
 * result (or error) is read with gg_request_read. */
gg_error gg_get_secret_value(gg_request ggreq, const char* secret_id, const char* version_id,
                             const char* version_stage, gg_request_result* result);

/* ---------------------------------------------------------------------------------------------
 * Lambda
 * ------------------------------------------------------------------------------------------- */

gg_error gg_invoke(gg_request ggreq, const gg_invoke_options* opts, gg_request_result* result);

/* ---------------------------------------------------------------------------------------------
 * AWS IoT
 * ------------------------------------------------------------------------------------------- */

/* Since 1.2.0. */
gg_error gg_publish_options_init(gg_publish_options* opts);
gg_error gg_publish_options_free(gg_publish_options opts);
gg_error gg_publish_options_set_queue_full_policy(gg_publish_options opts,
                                                  gg_queue_full_policy_options policy);
gg_error gg_publish_with_options(gg_request ggreq, const char* topic, const void* payload,
                                 size_t payload_size, const gg_publish_options opts,
                                 gg_request_result* result);

/* gg_publish_with_options(.., NULL, ..). */
gg_error gg_publish(gg_request ggreq, const char* topic, const void* payload, size_t payload_size,
                    gg_request_result* result);

gg_error gg_get_thing_shadow(gg_request ggreq, const char* thing_name, gg_request_result* result);

gg_error gg_update_thing_shadow(gg_request ggreq, const char* thing_name,
                                const char* update_payload, gg_request_result* result);

gg_error gg_delete_thing_shadow(gg_request ggreq, const char* thing_name,
                                gg_request_result* result);

#ifdef __cplusplus
}
#endif

#endif /* _GREENGRASS_SDK_H_ */
