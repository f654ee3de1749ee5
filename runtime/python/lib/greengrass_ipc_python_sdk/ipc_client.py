# Evergreen: HTTP client for the core's IPC endpoints (reference section 1.3).
#
#   E1 POST /2016-11-01/functions/{arn}              post_work        -> invocation id
#   E2 GET  /2016-11-01/functions/{arn}              get_work_result  -> GetWorkResultOutput
#   E3 GET  /2016-11-01/functions/{arn}/work         get_work         -> WorkItem (long poll)
#   E4 POST /2016-11-01/functions/{arn}/work         post_work_result
#   E5 POST .../work + X-Amz-Function-Error: Handled post_handler_err
#   E6 PUT  /2016-11-01/functions/{arn}/initialized  put_initialization_result
#
# Same names, arguments, return values and exceptions as the genuine client
# (which the genuine greengrasssdk imports), but faster: instead of one urllib
# connection per request it keeps ONE persistent HTTP/1.1 connection per
# thread and core address (shared by every IPCClient of that thread, and per
# process, so fork() is safe) with TCP_NODELAY, parses answers with a small
# dedicated parser, and retries a request once on a fresh connection when a
# reused keep-alive connection turns out to have been closed by the server.
# Requests never time out unless the caller asks for it (long polls block),
# like the genuine client.
#
# Evergreen extra, post_work_nowait (used by greengrasssdk's publish): in a
# thread that allow_nowait_in_this_thread() marked (the runtime's invocation
# thread, which always makes another request right after the handler returns),
# the request is written and the call returns; its answer is read before the
# answer of the next request on the same connection (HTTP/1.1 pipelining: the
# bytes on the wire are the same as post_work's). A refusal is then logged,
# and a request the server never answered (it closed the connection first) is
# sent again on a fresh connection, so nothing is lost: the same guarantee as
# the synchronous retry above. In any other thread it is post_work.
#
# A bundled genuine greengrasssdk publishes through post_work (an Event to the
# router, via its Lambda client, which ignores the returned id of an Event):
# in a marked thread such a post_work takes the same path and returns None,
# unless the client context asks for AllOrError (the refusal must raise) or
# the payload is large or not plain bytes/text. See post_work.
#
# Errors: a non-2xx answer or a transport failure raises IPCException; the
# message mirrors urllib's ("HTTP Error 404: Not Found", "<urlopen error ...>").
import base64
import collections
import json
import logging
import os
import socket
import sys
import threading
import time

from greengrass_common.env_vars import AUTH_TOKEN, GG_DAEMON_PORT, ROUTER_FUNCTION_ARN

runtime_logger = logging.getLogger(__name__)

HEADER_INVOCATION_ID = 'X-Amz-InvocationId'
HEADER_CLIENT_CONTEXT = 'X-Amz-Client-Context'
HEADER_AUTH_TOKEN = 'Authorization'
HEADER_INVOCATION_TYPE = 'X-Amz-Invocation-Type'
HEADER_FUNCTION_ERR_TYPE = 'X-Amz-Function-Error'
IPC_API_VERSION = '2016-11-01'

ROUTER_FUNCTION_ARN_LITERAL = 'arn:aws:lambda:::function:GGRouter'

# Bounds on what the client accepts from the server / logs / caches.
MAX_HEADER_LINE = 65536
MAX_HEADER_BYTES = 65536
MAX_HEADERS = 100
RECV_BYTES = 65536
MAX_RECV_BYTES = 1024 * 1024
MAX_RESPONSE_BODY = 64 * 1024 * 1024
MAX_LOGGED_ERROR_BODY = 1024
MAX_CACHED_PATHS = 256
MAX_CACHED_HEADS = 64
MAX_CACHED_PUBLISH_CONTEXTS = 64  # post_work's memo: router client context -> publish label
# post_work_nowait falls back to a synchronous post_work when the connection has
# not been used for longer than this (the server may be about to drop it), or
# when this many requests / bytes already wait for their answers.
NOWAIT_MAX_IDLE_S = 1.0
NOWAIT_MAX_PENDING = 64
NOWAIT_MAX_PENDING_BYTES = 1024 * 1024
# Larger publishes wait for the core's answer (a 413 then raises): in post_work (a genuine
# greengrasssdk) and in our greengrasssdk's publish.
NOWAIT_MAX_PAYLOAD = 64 * 1024
_ROUTER_ARNS = frozenset(a for a in (ROUTER_FUNCTION_ARN, ROUTER_FUNCTION_ARN_LITERAL) if a)

_monotonic = getattr(time, 'monotonic', time.time)

# Connections are per thread and per process: a child created by fork() must
# never use its parent's sockets. register_at_fork (Python 3.7+) counts forks
# without a getpid() system call per request; older interpreters compare pids.
_FORK_GENERATION = [0]
if hasattr(os, 'register_at_fork'):
    def _count_fork():
        _FORK_GENERATION[0] += 1

    os.register_at_fork(after_in_child=_count_fork)

    def _process_generation():
        return _FORK_GENERATION[0]
else:
    _process_generation = os.getpid

_THREAD_CONNECTIONS = threading.local()


def remember(memo, key, value, max_entries):
    """Stores value under key in the dict memo, clearing it first when it holds max_entries
    (a bounded memo of a pure function that refills with what is used now); returns value."""
    if len(memo) >= max_entries:
        memo.clear()
    memo[key] = value
    return value


def nowait_payload(payload):
    """True when a publish of payload may go without waiting for its answer: none, or
    bytes/text of at most NOWAIT_MAX_PAYLOAD."""
    return payload is None or (isinstance(payload, (bytes, bytearray) + _TEXT_TYPES)
                               and len(payload) <= NOWAIT_MAX_PAYLOAD)


def allow_nowait_in_this_thread():
    """Let post_work_nowait return before its answer in the calling thread.

    Only for a thread that keeps making IPC requests (each one reads the answers still
    owed first): the runtime's invocation loop. Elsewhere post_work_nowait waits."""
    _THREAD_CONNECTIONS.nowait = True

_PY3 = sys.version_info[0] >= 3
_TEXT_TYPES = (str,) if _PY3 else (str, unicode)  # noqa: F821 (Python 2 only)


class IPCException(Exception):
    pass


WorkItem = collections.namedtuple('WorkItem', ['invocation_id', 'payload', 'client_context'])
GetWorkResultOutput = collections.namedtuple('GetWorkResultOutput', ['payload', 'func_err'])


class InitializationResult(collections.namedtuple('InitializationResult', ['function_error'])):
    """Body of E6: {"Success": bool, "Response": text}.

    function_error is None/'' on success, an Exception (rendered as
    Cls("message")) or any object with __str__.
    """
    __slots__ = ()

    def __str__(self):
        error = self.function_error
        if error and isinstance(error, BaseException):
            response = '{}("{}")'.format(error.__class__.__name__, error)
            return json.dumps({'Success': False, 'Response': response}, ensure_ascii=False)
        if error:
            return json.dumps({'Success': False, 'Response': '{}'.format(error)}, ensure_ascii=False)
        return json.dumps({'Success': True, 'Response': ''}, ensure_ascii=False)


def _prepare_payload(payload):
    """Body bytes for a payload: None -> b'', text -> UTF-8, bytes-like/file-like as is."""
    if payload is None:
        return b''
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, _TEXT_TYPES):
        return payload.encode('utf-8')
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    if hasattr(payload, 'read'):
        return _prepare_payload(payload.read())
    raise TypeError('payload must be bytes, str or a file-like object, got {}'.format(type(payload).__name__))


def _encode_header_value(name, value):
    if value is None:
        value = b''
    elif not isinstance(value, bytes):
        if not isinstance(value, _TEXT_TYPES):
            value = str(value)
        try:
            value = value.encode('latin-1')
        except UnicodeError:
            raise ValueError('Invalid header value for {}: not latin-1: {!r}'.format(name, value))
    if b'\r' in value or b'\n' in value or b'\0' in value:
        raise ValueError('Invalid header value for {}: contains CR, LF or NUL: {!r}'.format(name, value))
    return value


class _StaleConnection(Exception):
    """The server closed the connection before sending a status line."""


class _ProtocolError(Exception):
    """The server's answer is not valid HTTP/1.x."""


class _Response(object):
    __slots__ = ('status', 'reason', 'headers', 'body', 'will_close')

    def getheader(self, name):
        """Header value ('' if present but empty) or None if absent; name is case-insensitive."""
        return self.headers.get(name.lower())


class _Connection(object):
    """Minimal persistent HTTP/1.1 client connection (TCP_NODELAY, no proxies).

    http.client parses headers with the email package, which costs tens of
    microseconds per response; this parser reads only what IPC needs: status
    line, headers, and a Content-Length, chunked or read-to-close body, from its
    own receive buffer (pipelined answers that arrive together are parsed
    without another system call).
    """

    def __init__(self, host, port, timeout=None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock = None
        self._buf = b''  # received, not yet parsed
        # Requests written with post_work_nowait whose answers are not read yet:
        # (request bytes, what to name in a log line). They survive close() so
        # that a fresh connection can send them again.
        self.pending = collections.deque()
        self.pending_bytes = 0
        self.last_used = 0.0

    def connect(self):
        sock = socket.create_connection((self.host, self.port), self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, socket.error):
            pass
        self.sock = sock
        self._buf = b''
        self.last_used = _monotonic()

    def close(self):
        sock = self.sock
        self.sock = None
        self._buf = b''
        if sock is not None:
            try:
                sock.close()
            except (OSError, socket.error):
                pass

    def _fill(self):
        """Appends what the socket has (blocking for at least one byte); False on EOF."""
        data = self.sock.recv(RECV_BYTES)
        if not data:
            return False
        self._buf = self._buf + data if self._buf else data
        return True

    def _take(self, n):
        """Exactly n bytes (fewer only if the server closed the connection first)."""
        buf = self._buf
        if len(buf) < n:
            parts = [buf]
            have = len(buf)
            while have < n:
                data = self.sock.recv(min(max(RECV_BYTES, n - have), MAX_RECV_BYTES))
                if not data:
                    break
                parts.append(data)
                have += len(data)
            buf = b''.join(parts)
        data, self._buf = buf[:n], buf[n:]
        return data

    def _head(self):
        """The next response head (status line + header lines, without the blank line), or
        None when the connection is closed before any byte of it.

        One search for the blank line and one split per answer instead of a readline() per
        line: the answers of this server are small and usually arrive in one segment."""
        buf = self._buf
        scanned = 0
        while True:
            end = buf.find(b'\r\n\r\n', max(scanned - 3, 0))
            if end >= 0:
                size = 4
            else:
                end = buf.find(b'\n\n', max(scanned - 1, 0))  # bare LF (lenient, like http.client)
                size = 2
            if end >= 0:
                if end > MAX_HEADER_BYTES:
                    raise _ProtocolError('response head longer than {} bytes'.format(MAX_HEADER_BYTES))
                self._buf = buf[end + size:]
                return buf[:end]
            if len(buf) > MAX_HEADER_BYTES:
                raise _ProtocolError('response head longer than {} bytes'.format(MAX_HEADER_BYTES))
            scanned = len(buf)
            if not self._fill():
                if not buf:
                    return None
                raise _ProtocolError('connection closed inside the response headers')
            buf = self._buf

    def _read_response(self, head_request):
        while True:
            head = self._head()
            if head is None:
                raise _StaleConnection('Remote end closed connection without response')
            lines = head.split(b'\n')
            line = lines[0]
            parts = line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b'HTTP/'):
                raise _ProtocolError('bad status line {!r}'.format(line[:80]))
            try:
                status = int(parts[1])
            except ValueError:
                raise _ProtocolError('bad status code {!r}'.format(parts[1][:20]))
            reason = parts[2].strip().decode('latin-1') if len(parts) > 2 else ''
            if len(lines) > MAX_HEADERS + 1:
                raise _ProtocolError('more than {} response headers'.format(MAX_HEADERS))
            headers = {}
            for hline in lines[1:]:
                name, sep, value = hline.partition(b':')
                if not sep:
                    raise _ProtocolError('bad header line {!r}'.format(hline[:80]))
                key = name.strip().lower().decode('latin-1')
                value = value.strip().decode('latin-1')
                if key in headers:
                    headers[key] = headers[key] + ', ' + value
                else:
                    headers[key] = value
            if 100 <= status < 200:
                continue  # interim answer (e.g. 100 Continue): the real one follows
            break

        response = _Response()
        response.status = status
        response.reason = reason
        response.headers = headers
        connection = headers.get('connection', '').lower()
        will_close = 'close' in connection or (parts[0] == b'HTTP/1.0' and 'keep-alive' not in connection)
        if head_request or status in (204, 304):
            body = b''
        elif 'chunked' in headers.get('transfer-encoding', '').lower():
            body = self._read_chunked()
        elif 'content-length' in headers:
            try:
                length = int(headers['content-length'])
            except ValueError:
                raise _ProtocolError('bad Content-Length {!r}'.format(headers['content-length']))
            if length < 0 or length > MAX_RESPONSE_BODY:
                raise _ProtocolError('Content-Length {} outside [0, {}]'.format(length, MAX_RESPONSE_BODY))
            body = self._take(length) if length else b''
            if len(body) != length:
                raise _ProtocolError('connection closed after {} of {} body bytes'.format(len(body), length))
        else:
            body = self._take(MAX_RESPONSE_BODY + 1)  # to the end of the connection
            if len(body) > MAX_RESPONSE_BODY:
                raise _ProtocolError('response body larger than {} bytes'.format(MAX_RESPONSE_BODY))
            will_close = True
        response.body = body
        response.will_close = will_close
        self.last_used = _monotonic()
        return response

    def _line(self):
        """One line of a chunked body's framing, without its line end."""
        while True:
            end = self._buf.find(b'\n')
            if end >= 0:
                line, self._buf = self._buf[:end], self._buf[end + 1:]
                return line.rstrip(b'\r')
            if len(self._buf) > MAX_HEADER_LINE:
                raise _ProtocolError('chunk line longer than {} bytes'.format(MAX_HEADER_LINE))
            if not self._fill():
                raise _ProtocolError('connection closed inside a chunked body')

    def _read_chunked(self):
        chunks = []
        total = 0
        while True:
            line = self._line()
            try:
                size = int(line.split(b';', 1)[0].strip(), 16)
            except ValueError:
                raise _ProtocolError('bad chunk size line {!r}'.format(line[:80]))
            if size == 0:
                while self._line():  # optional trailers, then the final blank line
                    pass
                return b''.join(chunks)
            total += size
            if total > MAX_RESPONSE_BODY:
                raise _ProtocolError('response body larger than {} bytes'.format(MAX_RESPONSE_BODY))
            chunk = self._take(size)
            if len(chunk) != size:
                raise _ProtocolError('connection closed inside a chunk')
            chunks.append(chunk)
            self._line()  # CRLF after the chunk data


def _work_item(response):
    """The WorkItem an E3 answer carries."""
    return WorkItem(invocation_id=response.getheader(HEADER_INVOCATION_ID),
                    payload=response.body,
                    client_context=response.getheader(HEADER_CLIENT_CONTEXT))


def _log_status(response):
    runtime_logger.error('HTTP Error {}:{}, {!r}'.format(response.status, response.reason,
                                                        response.body[:MAX_LOGGED_ERROR_BODY]))


def _raise_for_status(response):
    """IPCException (logged) for a non-2xx answer, like urllib's HTTPError."""
    if not 200 <= response.status < 300:
        _log_status(response)
        raise IPCException('HTTP Error {}: {}'.format(response.status, response.reason))


class IPCClient(object):
    """Client for the core's IPC: posting/getting work and results.

    Thread-safe: each thread (and each forked process) gets its own kept-alive
    connection, so a long poll in one thread never blocks another thread.
    """

    _GG_DAEMON_PORT = GG_DAEMON_PORT

    @staticmethod
    def set_gg_daemon_port(port):
        """Override the port (GG_DAEMON_PORT) used by clients created afterwards."""
        IPCClient._GG_DAEMON_PORT = port

    def __init__(self, endpoint='localhost', port=None, timeout=None):
        """
        :param endpoint: host of the core's IPC server; 'localhost' connects to 127.0.0.1.
        :param port: deprecated and ignored (the port always comes from GG_DAEMON_PORT).
        :param timeout: Evergreen extra: socket timeout in seconds; None blocks (default).
        """
        try:
            self.port = int(IPCClient._GG_DAEMON_PORT)
        except (TypeError, ValueError):
            raise IPCException('GG_DAEMON_PORT must be an integer port, got "{}"'.format(IPCClient._GG_DAEMON_PORT))
        self.endpoint = endpoint
        self.auth_token = AUTH_TOKEN if AUTH_TOKEN is not None else ''
        self.timeout = timeout
        self._connect_host = '127.0.0.1' if endpoint == 'localhost' else endpoint
        self._host_header = '{}:{}'.format(endpoint, self.port)
        self._address = (self._connect_host, self.port, timeout)
        self._paths = {}
        self._heads = {}  # _encode_head's memo
        self._publish_labels = {}  # _publish_label's memo
        if port is not None:
            runtime_logger.warning('deprecated arg port={} will be ignored'.format(port))

    # ---- public API (genuine names and signatures) ----------------------------------

    def post_work(self, function_arn, payload, client_context, invocation_type='RequestResponse'):
        """E1: queue work for function_arn; returns the invocation id.

        A publish (an Event to the router) in a thread marked by allow_nowait_in_this_thread
        is written without waiting for its answer, like post_work_nowait, and returns None
        (the genuine greengrasssdk's Lambda client ignores the id of an Event): except when
        its client context asks for AllOrError, or the payload is over NOWAIT_MAX_PAYLOAD or
        not bytes/text."""
        if (invocation_type == 'Event' and function_arn in _ROUTER_ARNS
                and getattr(_THREAD_CONNECTIONS, 'nowait', False) and nowait_payload(payload)):
            label = self._publish_label(client_context)
            if label is not None:
                self.post_work_nowait(function_arn, payload, client_context, invocation_type, label)
                return None
        response = self._request('POST', self._path(function_arn)[0], (
            (HEADER_CLIENT_CONTEXT, client_context),
            (HEADER_AUTH_TOKEN, self.auth_token),
            (HEADER_INVOCATION_TYPE, invocation_type),
        ), _prepare_payload(payload))
        return response.getheader(HEADER_INVOCATION_ID)

    def get_work(self, function_arn):
        """E3: block until the core assigns an invocation to this worker."""
        response = self._request('GET', self._path(function_arn)[1], ((HEADER_AUTH_TOKEN, self.auth_token),))
        return _work_item(response)

    def post_work_nowait(self, function_arn, payload, client_context, invocation_type='Event', label=None):
        """Evergreen extra: E1 without waiting for the answer (see the module comment).

        Written behind the requests already in flight on this thread's connection; the
        answer is read before the next request's answer, and a refusal is logged naming
        label. A synchronous post_work (raising IPCException like it) outside a thread
        marked by allow_nowait_in_this_thread, when there is no fresh kept-alive
        connection, or when too much is already in flight.
        """
        path = self._path(function_arn)[0]
        request_bytes = self._encode_request('POST', path, (
            (HEADER_CLIENT_CONTEXT, client_context),
            (HEADER_AUTH_TOKEN, self.auth_token),
            (HEADER_INVOCATION_TYPE, invocation_type),
        ), _prepare_payload(payload))
        conn = self._connection()
        if (conn.sock is None or not getattr(_THREAD_CONNECTIONS, 'nowait', False)
                or len(conn.pending) >= NOWAIT_MAX_PENDING
                or conn.pending_bytes + len(request_bytes) > NOWAIT_MAX_PENDING_BYTES
                or _monotonic() - conn.last_used > NOWAIT_MAX_IDLE_S):
            self._exchange(request_bytes, 1, 'POST', path)
            return
        conn.pending.append((request_bytes, label or 'POST {}'.format(path)))
        conn.pending_bytes += len(request_bytes)
        try:
            conn.sock.sendall(request_bytes)
        except (socket.error, OSError):
            # Not (completely) written: the next exchange sends it on a fresh connection.
            self._close_keeping_unanswered(conn)

    def post_work_result(self, function_arn, work_item):
        """E4: post the handler's result (work_item.payload) for work_item.invocation_id."""
        self._request('POST', self._path(function_arn)[1], (
            (HEADER_INVOCATION_ID, work_item.invocation_id),
            (HEADER_AUTH_TOKEN, self.auth_token),
        ), _prepare_payload(work_item.payload))

    def post_work_result_and_get_work(self, function_arn, work_item):
        """Evergreen extra: E4 for work_item, then E3 for the next one, written together on
        the kept-alive connection (HTTP/1.1 pipelining: the same two requests, byte for byte,
        as post_work_result + get_work, minus one round trip). Returns the next WorkItem."""
        work_path = self._path(function_arn)[1]
        post = self._encode_request('POST', work_path, (
            (HEADER_INVOCATION_ID, work_item.invocation_id),
            (HEADER_AUTH_TOKEN, self.auth_token),
        ), _prepare_payload(work_item.payload))
        get = self._encode_request('GET', work_path, ((HEADER_AUTH_TOKEN, self.auth_token),))
        responses = self._exchange(post + get, 2, 'POST+GET', work_path, check=False)
        if len(responses) < 2:
            _raise_for_status(responses[0])
            return self.get_work(function_arn)  # the server closed after the result
        response = responses[1]
        _raise_for_status(response)
        if not 200 <= responses[0].status < 300:
            # The result was refused (e.g. the invocation had timed out). If the poll behind it
            # got work, that work must run, not be dropped with an exception.
            if response.getheader(HEADER_INVOCATION_ID) is None:
                _raise_for_status(responses[0])
            _log_status(responses[0])
        return _work_item(response)

    def post_handler_err(self, function_arn, invocation_id, handler_err, error_type=None, stack_trace=None):
        """E5: report that the handler raised.

        Body {"errorMessage": handler_err} like the genuine client, plus
        "errorType" / "stackTrace" when given (Evergreen extras).
        """
        error = {'errorMessage': handler_err}
        if error_type is not None:
            error['errorType'] = error_type
        if stack_trace is not None:
            error['stackTrace'] = stack_trace
        self._request('POST', self._path(function_arn)[1], (
            (HEADER_INVOCATION_ID, invocation_id),
            (HEADER_FUNCTION_ERR_TYPE, 'Handled'),
            (HEADER_AUTH_TOKEN, self.auth_token),
        ), json.dumps(error).encode('utf-8'))

    def get_work_result(self, function_arn, invocation_id):
        """E2: block until the invocation's result exists.

        func_err is the X-Amz-Function-Error header verbatim: '' on success,
        'Handled'/'Unhandled' on errors, None if the core omitted the header.
        The router never answers, so its results are short-circuited.
        """
        if function_arn == ROUTER_FUNCTION_ARN_LITERAL:
            return GetWorkResultOutput(payload=b'', func_err='')
        response = self._request('GET', self._path(function_arn)[0], (
            (HEADER_INVOCATION_ID, invocation_id),
            (HEADER_AUTH_TOKEN, self.auth_token),
        ))
        return GetWorkResultOutput(payload=response.body, func_err=response.getheader(HEADER_FUNCTION_ERR_TYPE))

    def put_initialization_result(self, function_arn, func_error):
        """E6: report whether the function's module loaded (func_error None on success)."""
        self._request('PUT', self._path(function_arn)[2], ((HEADER_AUTH_TOKEN, self.auth_token),),
                      str(InitializationResult(func_error)).encode('utf-8'))

    def close(self):
        """Close the calling thread's connection (a later request reconnects)."""
        conn = getattr(_THREAD_CONNECTIONS, 'by_address', {}).get(self._address)
        if conn is not None:
            conn.close()

    # ---- internals ------------------------------------------------------------------

    def _get_url(self, function_arn):
        return 'http://{}:{}{}'.format(self.endpoint, self.port, self._path(function_arn)[0])

    def _get_work_url(self, function_arn):
        return 'http://{}:{}{}'.format(self.endpoint, self.port, self._path(function_arn)[1])

    def _put_init_result_url(self, function_arn):
        return 'http://{}:{}{}'.format(self.endpoint, self.port, self._path(function_arn)[2])

    def _path(self, function_arn):
        paths = self._paths.get(function_arn)
        if paths is None:
            if not function_arn:
                raise IPCException('function ARN is not set (is MY_FUNCTION_ARN in the environment?)')
            base = '/{}/functions/{}'.format(IPC_API_VERSION, function_arn)
            paths = (base, base + '/work', base + '/initialized')
            if len(self._paths) < MAX_CACHED_PATHS:
                self._paths[function_arn] = paths
        return paths

    def _connection(self):
        local = _THREAD_CONNECTIONS
        generation = _process_generation()
        by_address = getattr(local, 'by_address', None)
        if by_address is None or local.generation != generation:
            # Connections inherited through fork() belong to the parent: never touch them.
            by_address = local.by_address = {}
            local.generation = generation
        conn = by_address.get(self._address)
        if conn is None:
            conn = by_address[self._address] = _Connection(self._connect_host, self.port, self.timeout)
        return conn

    @staticmethod
    def _read_pending_answers(conn):
        """Read the answers of conn's post_work_nowait requests (they precede the new ones)."""
        while conn.pending:
            IPCClient._read_pending_answer(conn)

    @staticmethod
    def _read_pending_answer(conn):
        """Reads the answer to conn's oldest post_work_nowait request and forgets the request."""
        response = conn._read_response(False)
        request_bytes, label = conn.pending.popleft()
        conn.pending_bytes -= len(request_bytes)
        if response.status < 200 or response.status >= 300:
            runtime_logger.error('{} was refused by the core: HTTP Error {}: {}, {!r}'.format(
                label, response.status, response.reason, response.body[:MAX_LOGGED_ERROR_BODY]))
        if response.will_close:
            # Whatever followed on this connection is unanswered: send it again.
            raise _StaleConnection('the server closed the connection after answering {}'.format(label))

    @classmethod
    def _close_keeping_unanswered(cls, conn):
        """Closes conn; its post_work_nowait requests stay pending (a fresh connection sends
        them again) except those whose answers already arrived: the server may have answered
        some and then dropped the connection, and those must not be sent twice."""
        if conn.pending and conn.sock is not None:
            try:
                conn.sock.settimeout(0)  # what has arrived, without waiting for more
                while conn.pending:
                    cls._read_pending_answer(conn)
            except (_StaleConnection, _ProtocolError, socket.error, OSError):
                pass
        conn.close()

    @staticmethod
    def _drop_pending(conn, error):
        for _, label in conn.pending:
            runtime_logger.error('{} was not delivered to the core: {}'.format(label, error))
        conn.pending.clear()
        conn.pending_bytes = 0

    def _publish_label(self, client_context):
        """'publish to topic "t"' for a router client context that lets the publish go without
        waiting, else None (AllOrError, or not the base64 JSON {"custom": {"subject": ...}} a
        publish carries: the core's answer must reach the caller). Remembered per context."""
        key = client_context if isinstance(client_context, (bytes,) + _TEXT_TYPES) else None
        if key is not None:
            label = self._publish_labels.get(key)
            if label is not None:
                return label or None
        label = ''
        try:
            custom = json.loads(base64.b64decode(client_context).decode('utf-8')).get('custom')
            if (isinstance(custom, dict) and custom.get('queueFullPolicy') != 'AllOrError'
                    and isinstance(custom.get('subject'), _TEXT_TYPES) and custom.get('subject')):
                label = 'publish to topic "{}"'.format(custom['subject'])
        except (ValueError, TypeError, AttributeError, UnicodeError):
            pass
        if key is not None:
            remember(self._publish_labels, key, label, MAX_CACHED_PUBLISH_CONTEXTS)
        return label or None

    def _encode_head(self, method, path, headers):
        """Request line, Host and headers (each line CRLF-terminated), without the blank line.

        Remembered per (method, path, headers) unless a header names an invocation id (unique
        per request): E3 and a function's publishes to one topic repeat the same head."""
        key = (method, path, headers)
        memo = not any(name == HEADER_INVOCATION_ID for name, _ in headers)
        if memo:
            head = self._heads.get(key)
            if head is not None:
                return head
        parts = [method.encode('ascii'), b' ', path.encode('utf-8'), b' HTTP/1.1\r\nHost: ',
                 self._host_header.encode('latin-1'), b'\r\n']
        for name, value in headers:
            parts.append(name.encode('ascii'))
            parts.append(b': ')
            parts.append(_encode_header_value(name, value))
            parts.append(b'\r\n')
        head = b''.join(parts)
        return remember(self._heads, key, head, MAX_CACHED_HEADS) if memo else head

    def _encode_request(self, method, path, headers, body=None):
        parts = [self._encode_head(method, path, headers)]
        if body is not None:
            parts.append(b'Content-Length: ')
            parts.append(str(len(body)).encode('ascii'))
            parts.append(b'\r\n\r\n')
            parts.append(body)
        else:
            parts.append(b'\r\n')
        return b''.join(parts)

    def _request(self, method, path, headers, body=None):
        """Send one request on the kept-alive connection; returns the 2xx _Response."""
        request_bytes = self._encode_request(method, path, headers, body)
        return self._exchange(request_bytes, 1, method, path, method == 'HEAD')[0]

    def _exchange(self, request_bytes, count, method, path, head_request=False, check=True):
        """Write request_bytes (count pipelined requests) and read up to count responses.

        Fewer come back only when the server closes the connection after one of them; the
        caller decides what to do with the requests left unanswered. Every response returned
        is 2xx (else IPCException), unless check is False (the caller looks at each status)."""
        conn = self._connection()
        retried = False
        while True:
            reused = conn.sock is not None
            try:
                if conn.sock is None:
                    conn.connect()
                    # Requests written without waiting that a closed connection never
                    # answered go first, in their original order.
                    conn.sock.sendall(b''.join(p[0] for p in conn.pending) + request_bytes)
                else:
                    conn.sock.sendall(request_bytes)
                self._read_pending_answers(conn)
                responses = [conn._read_response(head_request)]
                while len(responses) < count and not responses[-1].will_close:
                    responses.append(conn._read_response(head_request))
                break
            except (_StaleConnection, socket.error, OSError) as e:
                self._close_keeping_unanswered(conn)
                if reused and not retried and not isinstance(e, socket.timeout):
                    # The server dropped an idle kept-alive connection: retry once on a new one.
                    retried = True
                    continue
                self._drop_pending(conn, e)
                runtime_logger.error('IPC request {} {} failed: {}'.format(method, path, e))
                raise IPCException('<urlopen error {}>'.format(e))
            except _ProtocolError as e:
                conn.close()
                self._drop_pending(conn, e)
                runtime_logger.error('IPC request {} {} failed: {}'.format(method, path, e))
                raise IPCException('<urlopen error {}>'.format(e))
        if responses[-1].will_close:
            conn.close()
        if check:
            for response in responses:
                _raise_for_status(response)
        return responses
