"""A small fake of the core's IPC HTTP server (reference §1.3, E1-E6) for runtime tests.

Implements just enough of the contract to drive lambda_runtime.py and the SDK:
per-ARN work queues (E1 enqueues, E3 long-polls), results keyed by invocation
id (E4/E5 store, E2 waits), E6 records, token check on every request, and
"responders" that answer E1 for system ARNs (router, shadow, secrets) or
any ARN a test wants to stub.  Every request is recorded for assertions.
"""
import base64
import collections
import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = '/2016-11-01/functions/'
WAIT_S = 20.0

Request = collections.namedtuple('Request', ['method', 'path', 'arn', 'kind', 'headers', 'body'])
Result = collections.namedtuple('Result', ['body', 'func_err'])


class HttpError(Exception):
    """Raised by a responder to answer E1 with an HTTP error status."""

    def __init__(self, status):
        Exception.__init__(self, status)
        self.status = status


def b64json(document):
    return base64.b64encode(json.dumps(document).encode()).decode()


class FakeIpcServer(object):
    def __init__(self, tokens=('test-token',)):
        self.tokens = set(tokens)
        self.cond = threading.Condition()
        self.queues = collections.defaultdict(collections.deque)
        self.results = {}
        self.requests = []
        self.init_results = []
        self.responders = {}  # arn -> fn(Request) -> (body bytes, func_err str or None)
        self.connections = 0
        self.sockets = []
        self.stopped = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def setup(self):
                BaseHTTPRequestHandler.setup(self)
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with outer.cond:
                    outer.connections += 1
                    outer.sockets.append(self.request)

            def log_message(self, *args):
                pass

            def do_GET(self):
                outer._handle(self)

            def do_POST(self):
                outer._handle(self)

            def do_PUT(self):
                outer._handle(self)

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # ---- lifecycle -------------------------------------------------------------------
    def start(self):
        self.thread.start()
        return self

    def stop(self):
        """Stop accepting and cut every open connection (idempotent)."""
        if self.stopped:
            return
        self.stopped = True
        self.httpd.shutdown()
        self.httpd.server_close()
        with self.cond:
            for sock in self.sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # ---- test helpers -----------------------------------------------------------------
    def enqueue(self, arn, payload=b'', client_context='', invocation_id=None):
        invocation_id = invocation_id or str(uuid.uuid4())
        with self.cond:
            self.queues[arn].append((invocation_id, payload, client_context))
            self.cond.notify_all()
        return invocation_id

    def wait_result(self, invocation_id, timeout=WAIT_S):
        with self.cond:
            if not self.cond.wait_for(lambda: invocation_id in self.results, timeout):
                raise AssertionError('no result for invocation {}'.format(invocation_id))
            return self.results.pop(invocation_id)

    def invoke(self, arn, payload=b'', client_context='', timeout=WAIT_S):
        return self.wait_result(self.enqueue(arn, payload, client_context), timeout)

    def wait_init(self, timeout=WAIT_S):
        with self.cond:
            if not self.cond.wait_for(lambda: self.init_results, timeout):
                raise AssertionError('runtime never called E6')
            return self.init_results[0]

    def requests_to(self, arn, kind='invoke', method='POST'):
        with self.cond:
            return [r for r in self.requests if r.arn == arn and r.kind == kind and r.method == method]

    # ---- server side ------------------------------------------------------------------
    def _reply(self, h, status, body=b'', headers=()):
        h.send_response(status)
        for name, value in headers:
            h.send_header(name, value)
        h.send_header('Content-Length', str(len(body)))
        h.end_headers()
        if body:
            h.wfile.write(body)

    def _handle(self, h):
        length = int(h.headers.get('Content-Length') or 0)
        body = h.rfile.read(length) if length else b''
        if not h.path.startswith(PREFIX):
            return self._reply(h, 404, b'unknown path')
        rest = h.path[len(PREFIX):]
        arn, _, suffix = rest.partition('/')
        kind = {'': 'invoke', 'work': 'work', 'initialized': 'initialized'}.get(suffix)
        request = Request(h.command, h.path, arn, kind, dict((k.lower(), v) for k, v in h.headers.items()), body)
        with self.cond:
            self.requests.append(request)
        if h.headers.get('Authorization') not in self.tokens:
            return self._reply(h, 403, b'bad token')
        if kind is None:
            return self._reply(h, 404, b'unknown path')
        if kind == 'initialized' and h.command == 'PUT':  # E6
            with self.cond:
                self.init_results.append((arn, json.loads(body.decode())))
                self.cond.notify_all()
            return self._reply(h, 200)
        if kind == 'work' and h.command == 'GET':  # E3
            with self.cond:
                if not self.cond.wait_for(lambda: self.queues[arn], WAIT_S * 3):
                    return self._reply(h, 504, b'no work')
                invocation_id, payload, client_context = self.queues[arn].popleft()
            return self._reply(h, 200, payload, (('X-Amz-InvocationId', invocation_id),
                                                 ('X-Amz-Client-Context', client_context)))
        if kind == 'work' and h.command == 'POST':  # E4 / E5
            invocation_id = h.headers.get('X-Amz-InvocationId')
            with self.cond:
                self.results[invocation_id] = Result(body, h.headers.get('X-Amz-Function-Error', ''))
                self.cond.notify_all()
            return self._reply(h, 200)
        if kind == 'invoke' and h.command == 'POST':  # E1
            cc = h.headers.get('X-Amz-Client-Context') or ''
            invocation_id = str(uuid.uuid4())
            responder = self.responders.get(arn)
            if responder is not None:
                try:
                    answer = responder(request)
                except HttpError as e:
                    return self._reply(h, e.status, b'rejected by test responder')
                with self.cond:
                    if answer is not None:
                        self.results[invocation_id] = Result(*answer)
                    self.cond.notify_all()
            else:
                self.enqueue(arn, body, cc, invocation_id)
            return self._reply(h, 202, b'', (('X-Amz-InvocationId', invocation_id),))
        if kind == 'invoke' and h.command == 'GET':  # E2
            invocation_id = h.headers.get('X-Amz-InvocationId')
            try:
                result = self.wait_result(invocation_id)
            except AssertionError:
                return self._reply(h, 504, b'timed out')
            headers = () if result.func_err is None else (('X-Amz-Function-Error', result.func_err),)
            return self._reply(h, 200, result.body, headers)
        return self._reply(h, 405, b'method not allowed')
