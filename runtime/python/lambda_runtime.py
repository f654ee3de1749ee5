#!/usr/bin/env python3
# Evergreen Python function runtime (reference section 2.1, section 4.1).
#
# Started by the core as
#   python3 -u <prefix>/runtime/python/lambda_runtime.py --handler=<module.function>
# with cwd = the function's code directory and the environment of reference
# section 1.2 (MY_FUNCTION_ARN, AWS_CONTAINER_AUTHORIZATION_TOKEN, GG_DAEMON_PORT,
# ENCODING_TYPE, LOG_LEVEL, _GG_LOG_FD_*, ...).
#
# Flow:
#   1. put our runtime-side packages (lib/) in front while importing them, so
#      they win over stale copies a function may bundle; point the root logger
#      at the per-level log pipes; install the SIGTERM handler.
#   2. import the handler; report the outcome with E6 (PUT .../initialized);
#      on failure exit with EXIT_IMPORT_FAILURE.
#   3. loop: E3 long poll -> event (json: parsed, {} when empty; binary: bytes)
#      + context -> handler(event, context) -> E4 with the serialised result,
#      or E5 (X-Amz-Function-Error: Handled) with
#      {"errorMessage", "errorType", "stackTrace"} when the handler raised.
#   IPC failures are retried with exponential backoff; after
#   MAX_CONSECUTIVE_IPC_FAILURES in a row the runtime exits (the core restarts it).
#
# Must stay importable by Python 2.7 (no f-strings); CI runs Python 3.
import base64
import collections
import errno
import json
import logging
import os
import signal
import sys
import time
import traceback

_RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
_LIB_DIR = os.path.join(_RUNTIME_DIR, 'lib')

ENCODING_JSON = 'json'
ENCODING_BINARY = 'binary'

EXIT_OK = 0
EXIT_IMPORT_FAILURE = 1
EXIT_BAD_ENVIRONMENT = 2
EXIT_IPC_FAILURE = 3

# Named bounds (overridable through the environment where noted).
BACKOFF_INITIAL_S = 0.05
BACKOFF_MAX_S = 2.0
DEFAULT_MAX_CONSECUTIVE_IPC_FAILURES = 30  # EVERGREEN_RUNTIME_MAX_IPC_FAILURES
DEFAULT_FUNCTION_TIMEOUT_MS = 3000  # EVERGREEN_FUNCTION_TIMEOUT_MS (v1 default: 3 s)
MAX_STACK_FRAMES = 50
MAX_ERROR_MESSAGE_CHARS = 64 * 1024
MAX_CACHED_CLIENT_CONTEXTS = 64  # ClientContextMemo entries (one per distinct header)

_monotonic = getattr(time, 'monotonic', time.time)

runtime_logger = logging.getLogger('lambda_runtime')

ClientContext = collections.namedtuple('ClientContext', ['client', 'custom', 'env'])
ClientContextClient = collections.namedtuple('ClientContextClient', [
    'installation_id', 'app_title', 'app_version_name', 'app_version_code', 'app_version_package_name'])


class LambdaContext(object):
    """The handler's context: attributes of the genuine runtime plus cloud-Lambda extras."""

    def __init__(self, invoked_function_arn, function_name, function_version, aws_request_id, client_context,
                 memory_limit_in_mb, log_group_name, deadline):
        self.invoked_function_arn = invoked_function_arn
        self.function_name = function_name
        self.function_version = function_version
        self.aws_request_id = aws_request_id
        self.client_context = client_context
        self.identity = None
        self.memory_limit_in_mb = memory_limit_in_mb
        self.log_group_name = log_group_name
        self.log_stream_name = 'fromPythonAppender'
        self._deadline = deadline

    def get_remaining_time_in_millis(self):
        """Milliseconds until the core's per-invocation timeout (never negative)."""
        remaining = int((self._deadline - _monotonic()) * 1000)
        return remaining if remaining > 0 else 0


def decode_client_context(header):
    """ClientContext namedtuple from the base64(JSON) X-Amz-Client-Context header, or None."""
    if not header:
        return None
    try:
        document = json.loads(base64.b64decode(header).decode('utf-8'))
    except (ValueError, TypeError, UnicodeError) as e:
        runtime_logger.warning('Ignoring client context that is not base64 JSON: {}'.format(e))
        return None
    if not isinstance(document, dict):
        runtime_logger.warning('Ignoring client context that is not a JSON object')
        return None
    client = document.get('client')
    if isinstance(client, dict):
        client = ClientContextClient(
            client.get('installation_id'), client.get('app_title'), client.get('app_version_name'),
            client.get('app_version_code'), client.get('app_version_package_name', client.get('app_package_name')))
    elif client is not None:
        client = None
    return ClientContext(client=client, custom=document.get('custom'), env=document.get('env'))


def _is_flat(value):
    """True for None or a dict whose values are all str/int/float/bool/None: dict(value) is then a
    complete copy."""
    if value is None:
        return True
    if not isinstance(value, dict):
        return False
    for v in value.values():
        if v is not None and not isinstance(v, (str, int, float, bool)):
            return False
    return True


class ClientContextMemo(object):
    """decode_client_context, remembered per header text for flat documents.

    A subscription's invocations all carry the same header ({"custom":{"subject":topic}}), and
    base64 + JSON per invocation sits between the work arriving and the handler starting. Each
    call still returns a new ClientContext with its own custom/env dicts (a handler may change
    them); only documents whose custom and env hold no nested containers are remembered, since
    for them a shallow copy is a whole copy."""

    def __init__(self, max_entries=MAX_CACHED_CLIENT_CONTEXTS):
        # ipc_client's bounded memo (imported once lib/ is on sys.path, as for Runtime).
        from greengrass_ipc_python_sdk.ipc_client import remember
        self._remember = remember
        self._memo = {}
        self._max_entries = max_entries

    def decode(self, header):
        if not header:
            return None
        hit = self._memo.get(header)
        if hit is None:
            context = decode_client_context(header)
            if context is None or not (_is_flat(context.custom) and _is_flat(context.env) and
                                       _is_flat(context.client._asdict() if context.client else None)):
                return context
            hit = self._remember(self._memo, header, context, self._max_entries)
        return ClientContext(client=hit.client,  # a namedtuple of scalars: immutable
                             custom=dict(hit.custom) if hit.custom is not None else None,
                             env=dict(hit.env) if hit.env is not None else None)


def decode_event(payload, binary):
    """Handler event from the work payload (raises ValueError on invalid JSON)."""
    if binary:
        return payload
    if not payload:
        return {}
    return json.loads(payload.decode('utf-8'))


def encode_result(result, binary):
    """Body of E4 for a handler's return value (raises TypeError/ValueError if it can't)."""
    if binary:
        if result is None:
            return b''
        if isinstance(result, bytes):
            return result
        if isinstance(result, (bytearray, memoryview)):
            return bytes(result)
        if isinstance(result, _TEXT_TYPES):
            return result.encode('utf-8')
        return json.dumps(result).encode('utf-8')
    return json.dumps(result).encode('utf-8')


_TEXT_TYPES = (str,) if sys.version_info[0] >= 3 else (str, unicode)  # noqa: F821 (Python 2 only)


def error_body_fields(exc, tb):
    """(errorMessage, errorType, stackTrace) for an exception raised by the handler."""
    try:
        message = str(exc)
    except UnicodeError:  # Python 2 exception carrying non-ASCII unicode
        message = unicode(exc)  # noqa: F821
    if len(message) > MAX_ERROR_MESSAGE_CHARS:
        message = message[:MAX_ERROR_MESSAGE_CHARS]
    frames = traceback.extract_tb(tb)[1:]  # drop the runtime's own call frame
    if len(frames) > MAX_STACK_FRAMES:
        frames = frames[-MAX_STACK_FRAMES:]
    return message, type(exc).__name__, traceback.format_list(frames)


def parse_handler_arg(argv):
    """The value of --handler=<module.function> (or --handler <value>), or None."""
    for i, arg in enumerate(argv):
        if arg.startswith('--handler='):
            return arg[len('--handler='):]
        if arg == '--handler' and i + 1 < len(argv):
            return argv[i + 1]
    return None


STANDBY_ARG = '--standby'


def await_start_signal(argv):
    """A standby worker (argv holds --standby: started ahead of need, src/supervisor/README.md
    "Standby workers") blocks here, after the runtime is loaded and before the user's code, until
    the core assigns it: one byte on stdin. EOF means it is not needed: False (exit 0).
    --standby is removed from argv (and sys.argv) and stdin becomes /dev/null again, so the
    user's code sees what it sees in a plain start."""
    if STANDBY_ARG not in argv:
        return True
    argv.remove(STANDBY_ARG)
    if STANDBY_ARG in sys.argv:
        sys.argv.remove(STANDBY_ARG)
    while True:
        try:
            got = os.read(0, 1)
            break
        except OSError as e:
            if e.errno != errno.EINTR:
                got = b''
                break
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return got == b'g'


def load_handler(handler_name):
    """Import module.function; raises ImportError/AttributeError/TypeError/anything the module raises."""
    import importlib
    module_name, sep, function_name = handler_name.rpartition('.')
    if not sep or not module_name or not function_name:
        raise ValueError('Handler "{}" is not of the form module.function'.format(handler_name))
    module = importlib.import_module(module_name)
    try:
        handler = getattr(module, function_name)
    except AttributeError:
        raise AttributeError('Module "{}" has no handler function "{}"'.format(module_name, function_name))
    if not callable(handler):
        raise TypeError('Handler "{}" is not callable'.format(handler_name))
    return handler


def _fix_sys_path():
    """Function code first, our lib after it; never our own script directory."""
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != _RUNTIME_DIR]
    cwd = os.getcwd()
    if cwd not in [os.path.abspath(p or '.') for p in sys.path]:
        sys.path.insert(0, cwd)
    if _LIB_DIR not in [os.path.abspath(p or '.') for p in sys.path]:
        sys.path.append(_LIB_DIR)


def _import_runtime_modules():
    """Import our greengrass_common / greengrass_ipc_python_sdk ahead of any bundled copy.

    Once imported they are cached in sys.modules, so the function's own
    `import greengrass_ipc_python_sdk...` (e.g. from a bundled genuine
    greengrasssdk) gets ours, which speak to this core.
    """
    saved = list(sys.path)
    sys.path.insert(0, _LIB_DIR)
    try:
        from greengrass_common import common_log_appender, env_vars, function_arn_fields
        from greengrass_ipc_python_sdk import ipc_client
    finally:
        sys.path[:] = saved
    return common_log_appender, env_vars, function_arn_fields, ipc_client


def _exit_now(code):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)


def _install_signal_handlers():
    def on_sigterm(signum, frame):
        runtime_logger.info('Caught signal {}. Stopping runtime.'.format(signum))
        # os._exit: user threads (e.g. timers of pinned functions) must not keep us alive.
        _exit_now(EXIT_OK)

    signal.signal(signal.SIGTERM, on_sigterm)


def _env_int(name, default, minimum=None):
    raw = os.environ.get(name)
    if raw is None or raw == '':
        return default
    try:
        value = int(raw)
    except ValueError:
        runtime_logger.error('{} must be an integer, got "{}"; using {}'.format(name, raw, default))
        return default
    if minimum is not None and value < minimum:
        runtime_logger.error('{} must be >= {}, got {}; using {}'.format(name, minimum, value, default))
        return default
    return value


class Runtime(object):
    """The work-pull loop of one worker process."""

    def __init__(self, ipc, function_arn, handler, binary, function_name, function_version, log_group_name,
                 timeout_ms, memory_limit_in_mb, max_consecutive_failures):
        self.ipc = ipc
        self.function_arn = function_arn
        self.handler = handler
        self.binary = binary
        self.function_name = function_name
        self.function_version = function_version
        self.log_group_name = log_group_name
        self.timeout_s = timeout_ms / 1000.0
        self.memory_limit_in_mb = memory_limit_in_mb
        self.max_consecutive_failures = max_consecutive_failures
        self.client_contexts = ClientContextMemo()

    def run_forever(self):
        from greengrass_ipc_python_sdk.ipc_client import IPCException, WorkItem, allow_nowait_in_this_thread
        # Every handler return is followed by a request on this thread's connection, which
        # reads the answers of the handler's publishes: they need not wait for them.
        allow_nowait_in_this_thread()
        ipc = self.ipc
        arn = self.function_arn
        failures = 0
        backoff = BACKOFF_INITIAL_S
        item = None
        while True:
            try:
                if item is None:
                    item = ipc.get_work(arn)
                failures = 0
                backoff = BACKOFF_INITIAL_S
                outcome = self.invoke(item)
                done, item = item, None
                if outcome[0] is None:
                    # E4 and the next E3 in one write (one round trip less per invocation).
                    item = ipc.post_work_result_and_get_work(
                        arn, WorkItem(done.invocation_id, outcome[1], None))
                else:
                    ipc.post_handler_err(arn, done.invocation_id, outcome[0], outcome[1], outcome[2])
            except IPCException as e:
                item = None
                failures += 1
                if self.max_consecutive_failures and failures >= self.max_consecutive_failures:
                    runtime_logger.error('Giving up after {} consecutive IPC failures; last: {}'.format(failures, e))
                    return EXIT_IPC_FAILURE
                runtime_logger.warning('IPC failure ({} in a row), retrying in {:.2f}s: {}'.format(
                    failures, backoff, e))
                time.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    def invoke(self, item):
        """Run the handler for one work item.

        Returns (None, result_bytes) on success, else
        (errorMessage, errorType, stackTrace) for E5.
        """
        start = _monotonic()
        try:
            event = decode_event(item.payload, self.binary)
        except ValueError as e:
            return ('Could not parse the payload as JSON: {}'.format(e), type(e).__name__, [])
        context = LambdaContext(self.function_arn, self.function_name, self.function_version, item.invocation_id,
                                self.client_contexts.decode(item.client_context), self.memory_limit_in_mb,
                                self.log_group_name, start + self.timeout_s)
        try:
            result = self.handler(event, context)
        except Exception as e:
            fields = error_body_fields(e, sys.exc_info()[2])
            runtime_logger.error('Function {} raised {}: {}\n{}'.format(
                self.function_name, fields[1], fields[0], ''.join(fields[2])))
            return fields
        try:
            return (None, encode_result(result, self.binary))
        except (TypeError, ValueError) as e:
            runtime_logger.error('Could not serialise the result of {}: {}'.format(self.function_name, e))
            return ('Unable to marshal the result: {}'.format(e), type(e).__name__, [])


def main(argv):
    _fix_sys_path()
    common_log_appender, env_vars, function_arn_fields, ipc_client = _import_runtime_modules()

    try:
        common_log_appender.install_root_handler()
    except ValueError as e:
        common_log_appender.install_root_handler(log_level='INFO')
        runtime_logger.error('{}; logging at INFO'.format(e))

    _install_signal_handlers()

    handler_name = parse_handler_arg(argv)
    function_arn = env_vars.MY_FUNCTION_ARN
    problems = []
    if not handler_name:
        problems.append('missing --handler=<module.function> argument')
    if not function_arn:
        problems.append('MY_FUNCTION_ARN is not set')
    if env_vars.AUTH_TOKEN is None:
        problems.append('AWS_CONTAINER_AUTHORIZATION_TOKEN is not set')
    encoding = (env_vars.ENCODING_TYPE or ENCODING_JSON).lower()
    if encoding not in (ENCODING_JSON, ENCODING_BINARY):
        problems.append('ENCODING_TYPE must be json or binary, got "{}"'.format(env_vars.ENCODING_TYPE))
    arn_fields = None
    if function_arn:
        try:
            arn_fields = function_arn_fields.FunctionArnFields(function_arn)
        except ValueError as e:
            problems.append('MY_FUNCTION_ARN: {}'.format(e))
    try:
        ipc = ipc_client.IPCClient()
    except ipc_client.IPCException as e:
        problems.append(str(e))
    if problems:
        message = 'Cannot start the Python runtime: ' + '; '.join(problems)
        runtime_logger.error(message)
        sys.stderr.write(message + '\n')
        return EXIT_BAD_ENVIRONMENT

    if not await_start_signal(argv):
        return EXIT_OK
    runtime_logger.info('Running [{}]'.format(function_arn))
    try:
        handler = load_handler(handler_name)
    except Exception as e:
        runtime_logger.error('Failed to import handler function "{}" due to exception: {}\n{}'.format(
            handler_name, e, traceback.format_exc()))
        try:
            ipc.put_initialization_result(function_arn, e)
        except ipc_client.IPCException as report_error:
            runtime_logger.error('Could not report the initialization failure: {}'.format(report_error))
        return EXIT_IMPORT_FAILURE
    try:
        ipc.put_initialization_result(function_arn, None)
    except ipc_client.IPCException as e:
        runtime_logger.warning('Could not report initialization success: {}'.format(e))

    runtime = Runtime(
        ipc=ipc, function_arn=function_arn, handler=handler, binary=(encoding == ENCODING_BINARY),
        function_name=arn_fields.name, function_version=arn_fields.qualifier,
        log_group_name='/Lambda/{}/{}/{}'.format(arn_fields.region, arn_fields.account_id, arn_fields.name),
        timeout_ms=_env_int('EVERGREEN_FUNCTION_TIMEOUT_MS', DEFAULT_FUNCTION_TIMEOUT_MS, minimum=1),
        memory_limit_in_mb=_env_int('EVERGREEN_MEMORY_LIMIT_MB', None, minimum=1),
        max_consecutive_failures=_env_int('EVERGREEN_RUNTIME_MAX_IPC_FAILURES', DEFAULT_MAX_CONSECUTIVE_IPC_FAILURES,
                                          minimum=0))
    return runtime.run_forever()


if __name__ == '__main__':
    _exit_now(main(sys.argv[1:]))
