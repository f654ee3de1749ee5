"""In-process unit tests of the runtime-side modules and the runtime's helpers."""
import base64
import json
import logging
import os
import socket
import subprocess
import sys
import threading

import pytest

from conftest import LIB_DIR, PYTHON, RUNTIME_DIR

sys.path.insert(0, LIB_DIR)
sys.path.insert(0, RUNTIME_DIR)

from greengrass_common import common_log_appender  # noqa: E402
from greengrass_common.function_arn_fields import FunctionArnFields  # noqa: E402
from greengrass_ipc_python_sdk import ipc_client  # noqa: E402
from greengrass_ipc_python_sdk.ipc_client import InitializationResult, IPCClient, IPCException  # noqa: E402
import lambda_runtime  # noqa: E402


# ---- FunctionArnFields ---------------------------------------------------------------

def test_arn_fields_qualified():
    f = FunctionArnFields('arn:aws:lambda:us-east-1:123456789012:function:Hello:7')
    assert (f.region, f.account_id, f.name, f.qualifier) == ('us-east-1', '123456789012', 'Hello', '7')
    assert f.unqualified_arn == 'arn:aws:lambda:us-east-1:123456789012:function:Hello'
    assert f.to_arn_string() == 'arn:aws:lambda:us-east-1:123456789012:function:Hello:7'


@pytest.mark.parametrize('arn,name,qualifier', [
    ('arn:aws:lambda:::function:GGRouter', 'GGRouter', ''),
    ('arn:aws:lambda:::function:GGSecretManager:1', 'GGSecretManager', '1'),
    ('arn:aws:lambda:us-west-2:aws:function:GG-ML-INF-image-classification', 'GG-ML-INF-image-classification', ''),
    ('arn:aws-cn:lambda:cn-north-1:123456789012:function:f:$LATEST', 'f', '$LATEST'),
    ('arn:aws:lambda:us-east-1:123456789012:function:f:PROD_alias', 'f', 'PROD_alias'),
])
def test_arn_fields_accepted_forms(arn, name, qualifier):
    f = FunctionArnFields(arn)
    assert (f.name, f.qualifier) == (name, qualifier)
    assert f.to_arn_string() == arn


@pytest.mark.parametrize('bad', ['', 'Hello', 'arn:aws:lambda:us-east-1:1:function:', 'arn:aws:s3:::bucket',
                                 'arn:aws:lambda:us-east-1:1:function:a:b:c', 'arn:aws:lambda:x:1:function:a b',
                                 'arn:aws:lambda:us-east-1:1:function:' + 'a' * 3000])
def test_arn_fields_rejects_malformed(bad):
    with pytest.raises(ValueError):
        FunctionArnFields(bad)


def test_arn_builders():
    assert FunctionArnFields.build_function_arn('arn:aws:lambda:r:1:function:f', '3') == 'arn:aws:lambda:r:1:function:f:3'
    assert FunctionArnFields.build_function_arn('arn:aws:lambda:r:1:function:f', '') == 'arn:aws:lambda:r:1:function:f'
    assert FunctionArnFields.build_function_arn('arn:aws:lambda:r:1:function:f', None) == 'arn:aws:lambda:r:1:function:f'
    assert FunctionArnFields.build_arn_string('r', '1', 'f', '2') == 'arn:aws:lambda:r:1:function:f:2'


# ---- E6 body -------------------------------------------------------------------------

def test_initialization_result_bodies():
    assert json.loads(str(InitializationResult(None))) == {'Success': True, 'Response': ''}
    assert json.loads(str(InitializationResult(ImportError('No module named x')))) == {
        'Success': False, 'Response': 'ImportError("No module named x")'}
    assert json.loads(str(InitializationResult('custom'))) == {'Success': False, 'Response': 'custom'}


# ---- log appender --------------------------------------------------------------------

@pytest.mark.parametrize('value,level', [('TRACE', logging.NOTSET), ('NOTSET', logging.NOTSET),
                                         ('DEBUG', logging.DEBUG), ('INFO', logging.INFO),
                                         ('WARN', logging.WARNING), ('ERROR', logging.ERROR),
                                         ('FATAL', logging.CRITICAL)])
def test_min_log_level(value, level):
    assert common_log_appender.min_log_level(value) == level


def test_min_log_level_rejects_unknown():
    with pytest.raises(ValueError, match='LOG_LEVEL'):
        common_log_appender.min_log_level('LOUD')


def test_level_fds_from_env_rejects_garbage():
    with pytest.raises(ValueError, match='_GG_LOG_FD_INFO'):
        common_log_appender.level_fds_from_env({'_GG_LOG_FD_INFO': 'one'})
    assert common_log_appender.level_fds_from_env({'_GG_LOG_FD_WARN': '7'}) == {'WARN': 7}


def test_handler_writes_each_level_to_its_fd():
    pipes = dict((level, os.pipe()) for level in ('DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'))
    handler = common_log_appender.LocalwatchLogHandler(
        level_fds=dict((level, w) for level, (r, w) in pipes.items()), level=logging.INFO)
    logger = logging.getLogger('evg_unit_appender')
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.debug('d')
        logger.info('i')
        logger.warning('w')
        logger.error('e')
        logger.critical('c')
        logger.log(45, 'between error and critical')
    finally:
        logger.removeHandler(handler)
    out = {}
    for level, (r, w) in pipes.items():
        os.close(w)
        out[level] = os.read(r, 65536).decode()
        os.close(r)
    assert out['DEBUG'] == ''  # filtered by the handler level
    assert out['INFO'].startswith('test_units.py:') and out['INFO'].endswith(',i\n')
    assert out['WARN'].endswith(',w\n')
    assert [line.split(',', 1)[1] for line in out['ERROR'].splitlines()] == ['e', 'between error and critical']
    assert out['FATAL'].endswith(',c\n')


def test_handler_survives_closed_pipe():
    r, w = os.pipe()
    os.close(r)
    handler = common_log_appender.LocalwatchLogHandler(level_fds={'INFO': w}, level=logging.INFO)
    record = logging.LogRecord('x', logging.INFO, __file__, 1, 'msg', None, None)
    handler.emit(record)  # EPIPE must not propagate
    os.close(w)


# ---- runtime helpers -----------------------------------------------------------------

def test_decode_event():
    assert lambda_runtime.decode_event(b'{"a": 1}', False) == {'a': 1}
    assert lambda_runtime.decode_event(b'', False) == {}
    assert lambda_runtime.decode_event(b'null', False) is None
    assert lambda_runtime.decode_event(b'\x00\xff', True) == b'\x00\xff'
    with pytest.raises(ValueError):
        lambda_runtime.decode_event(b'{', False)


def test_encode_result():
    assert lambda_runtime.encode_result(None, False) == b'null'
    assert lambda_runtime.encode_result({'a': [1]}, False) == b'{"a": [1]}'
    assert lambda_runtime.encode_result('x', False) == b'"x"'
    assert lambda_runtime.encode_result(None, True) == b''
    assert lambda_runtime.encode_result(b'\x01', True) == b'\x01'
    assert lambda_runtime.encode_result(bytearray(b'ab'), True) == b'ab'
    assert lambda_runtime.encode_result({'k': 1}, True) == b'{"k": 1}'
    with pytest.raises(TypeError):
        lambda_runtime.encode_result(object(), False)


def test_decode_client_context():
    assert lambda_runtime.decode_client_context('') is None
    assert lambda_runtime.decode_client_context(None) is None
    cc = lambda_runtime.decode_client_context(base64.b64encode(b'{"custom": {"subject": "a/b"}}').decode())
    assert cc.custom == {'subject': 'a/b'} and cc.client is None and cc.env is None
    assert lambda_runtime.decode_client_context('%%%') is None
    assert lambda_runtime.decode_client_context(base64.b64encode(b'[1]').decode()) is None


def test_client_context_memo_gives_each_invocation_its_own_dicts():
    memo = lambda_runtime.ClientContextMemo(max_entries=2)
    header = base64.b64encode(b'{"custom": {"subject": "a/b"}, "env": {"k": 1}}').decode()
    first = memo.decode(header)
    first.custom['subject'] = 'changed by a handler'
    first.env['k'] = 2
    second = memo.decode(header)
    assert second.custom == {'subject': 'a/b'} and second.env == {'k': 1}
    assert second.custom is not first.custom
    assert memo.decode('') is None and memo.decode(None) is None
    assert memo.decode('%%%') is None
    # Nested values are not remembered: each call decodes afresh, so nothing is shared.
    nested = base64.b64encode(b'{"custom": {"deep": {"x": 1}}}').decode()
    a = memo.decode(nested)
    a.custom['deep']['x'] = 5
    assert memo.decode(nested).custom == {'deep': {'x': 1}}
    client = base64.b64encode(b'{"client": {"installation_id": "i", "app_title": "t"}}').decode()
    assert memo.decode(client).client.installation_id == 'i'
    # Bounded: a third distinct header clears the memo first.
    other = base64.b64encode(b'{"custom": {"subject": "c"}}').decode()
    assert memo.decode(other).custom == {'subject': 'c'}
    assert len(memo._memo) <= 2


def test_parse_handler_arg():
    assert lambda_runtime.parse_handler_arg(['--handler=a.b']) == 'a.b'
    assert lambda_runtime.parse_handler_arg(['x', '--handler', 'm.f']) == 'm.f'
    assert lambda_runtime.parse_handler_arg([]) is None


def test_context_remaining_time_counts_down():
    now = lambda_runtime._monotonic()
    ctx = lambda_runtime.LambdaContext('arn', 'f', '1', 'id', None, 16, '/g', now + 1.0)
    assert 900 < ctx.get_remaining_time_in_millis() <= 1000
    ctx = lambda_runtime.LambdaContext('arn', 'f', '1', 'id', None, 16, '/g', now - 1.0)
    assert ctx.get_remaining_time_in_millis() == 0


# ---- IPC client transport ------------------------------------------------------------

class ScriptedServer(object):
    """Accepts connections and answers each request with the next canned response.

    A response of None closes the connection without answering; (bytes, 'close') answers and
    then closes it at once (the server dropping a connection it considers idle).
    """

    def __init__(self, responses):
        self.responses = list(responses)
        self.requests = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while self.responses:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            rfile = conn.makefile('rb')
            while self.responses:
                head = b''
                while not head.endswith(b'\r\n\r\n'):
                    line = rfile.readline()
                    if not line:
                        break
                    head += line
                if not head:
                    break
                length = 0
                for line in head.split(b'\r\n'):
                    if line.lower().startswith(b'content-length:'):
                        length = int(line.split(b':')[1])
                self.requests.append(head + rfile.read(length))
                response = self.responses.pop(0)
                if response is None:
                    break
                if isinstance(response, tuple):  # (answer, 'close'): answer, then hang up
                    conn.sendall(response[0])
                    break
                conn.sendall(response)
            rfile.close()
            conn.close()

    def close(self):
        self.sock.close()


def _client(port):
    IPCClient.set_gg_daemon_port(str(port))
    client = IPCClient()
    client.auth_token = 'tok'
    return client


def test_client_reuses_one_connection_and_parses_chunked_and_interim():
    srv = ScriptedServer([
        b'HTTP/1.1 202 Accepted\r\nX-Amz-InvocationId: id-1\r\nContent-Length: 0\r\n\r\n',
        b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n'
        b'x-amz-function-error: \r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n',
    ])
    client = _client(srv.port)
    assert client.post_work('arn:aws:lambda:r:1:function:f:1', u'p\u00e9', b'Y2M=') == 'id-1'
    out = client.get_work_result('arn:aws:lambda:r:1:function:f:1', 'id-1')
    assert out.payload == b'abcde' and out.func_err == ''
    assert srv.connections == 1
    first = srv.requests[0]
    assert first.startswith(b'POST /2016-11-01/functions/arn:aws:lambda:r:1:function:f:1 HTTP/1.1\r\n')
    assert b'\r\nAuthorization: tok\r\n' in first
    assert b'\r\nX-Amz-Client-Context: Y2M=\r\n' in first
    assert b'\r\nX-Amz-Invocation-Type: RequestResponse\r\n' in first
    assert first.endswith(u'p\u00e9'.encode('utf-8'))
    second = srv.requests[1]
    assert b'X-Amz-InvocationId: id-1' in second
    srv.close()


def test_client_missing_function_error_header_is_none():
    srv = ScriptedServer([b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}'])
    out = _client(srv.port).get_work_result('arn:aws:lambda:r:1:function:f', 'id')
    assert out.func_err is None and out.payload == b'{}'
    srv.close()


def test_client_retries_once_when_kept_alive_connection_was_closed():
    srv = ScriptedServer([
        b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
        None,  # server drops the idle keep-alive connection
        b'HTTP/1.1 200 OK\r\nX-Amz-InvocationId: id-2\r\nX-Amz-Client-Context: \r\nContent-Length: 1\r\n\r\nx',
    ])
    client = _client(srv.port)
    client.put_initialization_result('arn:aws:lambda:r:1:function:f', None)
    item = client.get_work('arn:aws:lambda:r:1:function:f')
    assert item == ipc_client.WorkItem('id-2', b'x', '')
    assert srv.connections == 2
    assert srv.requests[0].startswith(b'PUT /2016-11-01/functions/arn:aws:lambda:r:1:function:f/initialized ')
    srv.close()


def test_client_pipelines_result_and_next_get_with_the_same_bytes():
    arn = 'arn:aws:lambda:r:1:function:f:1'
    ok = b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'
    work = (b'HTTP/1.1 200 OK\r\nX-Amz-InvocationId: id-2\r\nX-Amz-Client-Context: Y2M=\r\n'
            b'Content-Length: 3\r\n\r\nnew')
    # Reference: the two separate calls.
    ref = ScriptedServer([ok, work])
    client = _client(ref.port)
    client.post_work_result(arn, ipc_client.WorkItem('id-1', b'result', None))
    assert client.get_work(arn) == ipc_client.WorkItem('id-2', b'new', 'Y2M=')
    ref.close()
    # Pipelined: one connection, the same two requests byte for byte, the second answer wins.
    srv = ScriptedServer([ok, work])
    client = _client(srv.port)
    item = client.post_work_result_and_get_work(arn, ipc_client.WorkItem('id-1', b'result', None))
    assert item == ipc_client.WorkItem('id-2', b'new', 'Y2M=')
    assert srv.connections == 1
    # (the Host header names each server's own port)
    assert [r.replace(str(srv.port).encode(), b'PORT') for r in srv.requests] == \
        [r.replace(str(ref.port).encode(), b'PORT') for r in ref.requests]
    assert srv.requests[0].startswith(b'POST /2016-11-01/functions/' + arn.encode() + b'/work ')
    assert srv.requests[1].startswith(b'GET /2016-11-01/functions/' + arn.encode() + b'/work ')
    srv.close()


def test_client_pipelined_get_is_resent_when_the_server_closes_after_the_result():
    arn = 'arn:aws:lambda:r:1:function:f'
    srv = ScriptedServer([
        b'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
        None,  # the pipelined GET is never answered on that connection
        b'HTTP/1.1 200 OK\r\nX-Amz-InvocationId: id-3\r\nContent-Length: 1\r\n\r\nz',
    ])
    client = _client(srv.port)
    item = client.post_work_result_and_get_work(arn, ipc_client.WorkItem('id-1', b'r', None))
    assert item.invocation_id == 'id-3' and item.payload == b'z'
    assert srv.connections == 2
    assert [r.split(b' ', 1)[0] for r in srv.requests] == [b'POST', b'GET', b'GET']
    srv.close()


def test_client_pipelined_error_answer_raises():
    srv = ScriptedServer([b'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
                          b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'])
    with pytest.raises(IPCException, match='HTTP Error 404'):
        _client(srv.port).post_work_result_and_get_work(
            'arn:aws:lambda:r:1:function:f', ipc_client.WorkItem('id-1', b'r', None))
    srv.close()


def test_client_http_error_raises_ipc_exception():
    srv = ScriptedServer([b'HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\nmissing',
                          b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close'])
    client = _client(srv.port)
    with pytest.raises(IPCException, match='HTTP Error 404: Not Found'):
        client.get_work('arn:aws:lambda:r:1:function:f')
    # The connection is still usable after an error answer; read-to-close bodies work.
    assert client.get_work('arn:aws:lambda:r:1:function:f').payload == b'until-close'
    srv.close()


def test_client_connection_refused_raises_ipc_exception():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(IPCException, match='urlopen error'):
        _client(port).get_work('arn:aws:lambda:r:1:function:f')


def test_client_rejects_garbage_answer():
    srv = ScriptedServer([b'SMTP ready\r\n\r\n'])
    with pytest.raises(IPCException, match='bad status line'):
        _client(srv.port).get_work('arn:aws:lambda:r:1:function:f')
    srv.close()


def test_client_router_result_is_short_circuited():
    out = _client(1).get_work_result('arn:aws:lambda:::function:GGRouter', 'id')
    assert out.payload == b'' and out.func_err == ''


def test_client_bad_port_is_clear_error():
    IPCClient.set_gg_daemon_port('eighty')
    with pytest.raises(IPCException, match='GG_DAEMON_PORT'):
        IPCClient()


def test_post_handler_err_body():
    srv = ScriptedServer([b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'])
    _client(srv.port).post_handler_err('arn:aws:lambda:r:1:function:f', 'id', 'boom', 'KeyError', ['f'])
    request = srv.requests[0]
    assert b'\r\nX-Amz-Function-Error: Handled\r\n' in request
    assert json.loads(request.split(b'\r\n\r\n', 1)[1]) == {
        'errorMessage': 'boom', 'errorType': 'KeyError', 'stackTrace': ['f']}
    srv.close()


# ---- SDK without a core --------------------------------------------------------------

def test_sdk_mock_without_my_function_arn_and_unknown_client():
    script = '''
import greengrasssdk
lam = greengrasssdk.client("lambda")
r = lam.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:f:1")
assert r == {"Payload": '{"TestKey": "TestValue"}', "FunctionError": ""}, r
r = lam.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:f:1", InvocationType="Event")
assert r == {"Payload": b"", "FunctionError": ""}, r
try:
    greengrasssdk.client("s3")
except Exception as e:
    assert "s3" in str(e)
else:
    raise SystemExit("unknown client accepted")
print("ok")
'''
    env = {'PYTHONPATH': LIB_DIR, 'PATH': os.environ.get('PATH', '')}
    out = subprocess.run([PYTHON, '-c', script], env=env, capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.strip() == b'ok'


# ---- publish without waiting for the 202 (post_work_nowait) ---------------------------

def _in_fresh_thread(fn):
    """Runs fn in a new thread (the nowait mark and the connections are per thread)."""
    out = {}

    def run():
        try:
            out['value'] = fn()
        except BaseException as e:  # reported to the test
            out['error'] = e
    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    if 'error' in out:
        raise out['error']
    return out.get('value')


_WORK = b'HTTP/1.1 200 OK\r\nX-Amz-InvocationId: id-1\r\nContent-Length: 1\r\n\r\nw'
_ACCEPTED = b'HTTP/1.1 202 Accepted\r\nX-Amz-InvocationId: p\r\nContent-Length: 0\r\n\r\n'
_OK = b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'
_ROUTER = 'arn:aws:lambda:::function:GGRouter'
_FN = 'arn:aws:lambda:r:1:function:f'


def test_nowait_answers_are_read_before_the_next_answer_and_refusals_logged(caplog):
    srv = ScriptedServer([_WORK, _ACCEPTED, b'HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\nfull',
                          _ACCEPTED, _OK])

    def run():
        ipc_client.allow_nowait_in_this_thread()
        client = _client(srv.port)
        client.get_work(_FN)
        for n in range(3):
            assert client.post_work_nowait(_ROUTER, 'm{}'.format(n), 'Y2M=', 'Event', 'publish {}'.format(n)) is None
        # The result's answer is the fourth one after the GET: the three 202/429 come first.
        client.post_work_result(_FN, ipc_client.WorkItem('id-1', b'r', None))
        return client._connection().pending
    with caplog.at_level(logging.ERROR, logger=ipc_client.__name__):
        assert len(_in_fresh_thread(run)) == 0
    assert srv.connections == 1
    assert [r.split(b'\r\n\r\n', 1)[1] for r in srv.requests] == [b'', b'm0', b'm1', b'm2', b'r']
    assert 'publish 1 was refused by the core: HTTP Error 429: Too Many Requests' in caplog.text
    assert 'publish 0' not in caplog.text and 'publish 2' not in caplog.text
    srv.close()


def _two_nowait_publishes_then_a_result(srv, pause_s):
    """In a marked thread: E3, publishes m0 and m1 without waiting, then E4 (pause_s after each
    publish). Returns the bodies of the requests the server received, in order."""
    import time

    def run():
        ipc_client.allow_nowait_in_this_thread()
        client = _client(srv.port)
        client.get_work(_FN)
        for body in ('m0', 'm1'):
            client.post_work_nowait(_ROUTER, body, 'Y2M=')
            time.sleep(pause_s)
        client.post_work_result(_FN, ipc_client.WorkItem('id-1', b'r', None))
    _in_fresh_thread(run)
    return [r.split(b'\r\n\r\n', 1)[1] for r in srv.requests]


def test_nowait_request_left_unanswered_by_a_closed_connection_is_sent_again():
    srv = ScriptedServer([
        _WORK,
        b'HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',  # m0, then closes
        None,  # m1 is never answered on that connection
        _ACCEPTED,  # m1 again, on a new connection
        _OK,  # the result
    ])

    bodies = _two_nowait_publishes_then_a_result(srv, pause_s=0)
    assert srv.connections == 2
    # m1 reached the first connection but was never answered there: sent again, once.
    assert bodies == [b'', b'm0', b'm1', b'm1', b'r']
    srv.close()


def test_nowait_waits_outside_a_marked_thread_and_after_idle():
    srv = ScriptedServer([_OK, b'HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n', _OK, _ACCEPTED])

    def run():
        client = _client(srv.port)
        client.put_initialization_result(_FN, None)
        with pytest.raises(IPCException, match='HTTP Error 413'):  # not marked: synchronous
            client.post_work_nowait(_ROUTER, 'big', 'Y2M=')
        ipc_client.allow_nowait_in_this_thread()
        client.put_initialization_result(_FN, None)
        client._connection().last_used -= ipc_client.NOWAIT_MAX_IDLE_S + 1
        client.post_work_nowait(_ROUTER, 'late', 'Y2M=')  # idle connection: synchronous
        return len(client._connection().pending)
    assert _in_fresh_thread(run) == 0
    assert len(srv.requests) == 4
    srv.close()


def _genuine_publish_context(topic, policy=''):
    """The client context the genuine greengrasssdk's publish sends (base64 of json.dumps)."""
    custom = {'source': _FN, 'subject': topic}
    if policy:
        custom['queueFullPolicy'] = policy
    return base64.b64encode(json.dumps({'custom': custom}).encode())


def test_genuine_sdk_publish_through_post_work_does_not_wait_in_a_marked_thread():
    srv = ScriptedServer([_WORK, _ACCEPTED, _OK, _ACCEPTED, _ACCEPTED, _ACCEPTED, _OK])

    def run():
        ipc_client.allow_nowait_in_this_thread()
        client = _client(srv.port)
        client.get_work(_FN)
        # What greengrasssdk's Lambda client sends for publish(topic='t/1'): not waited for.
        assert client.post_work(_ROUTER, b'm0', _genuine_publish_context('t/1'), 'Event') is None
        pending = len(client._connection().pending)
        client.post_work_result(_FN, ipc_client.WorkItem('id-1', b'r', None))
        waited = [
            # AllOrException: the refusal must raise, so the answer is waited for.
            client.post_work(_ROUTER, b'm1', _genuine_publish_context('t/1', 'AllOrError'), 'Event'),
            # Too large to go without waiting.
            client.post_work(_ROUTER, b'x' * (ipc_client.NOWAIT_MAX_PAYLOAD + 1),
                             _genuine_publish_context('t/1'), 'Event'),
            # Not a publish's context.
            client.post_work(_ROUTER, b'm3', 'e30=', 'Event'),
        ]
        return pending, waited, len(client._connection().pending)
    pending, waited, left = _in_fresh_thread(run)
    assert pending == 1 and left == 0
    assert waited == ['p', 'p', 'p']
    assert [r.split(b'\r\n\r\n', 1)[1][:2] for r in srv.requests] == [b'', b'm0', b'r', b'm1', b'xx', b'm3']
    srv.close()


def test_genuine_sdk_publish_through_post_work_waits_outside_a_marked_thread():
    srv = ScriptedServer([_ACCEPTED])

    def run():
        return _client(srv.port).post_work(_ROUTER, b'm0', _genuine_publish_context('t/1'), 'Event')
    assert _in_fresh_thread(run) == 'p'
    srv.close()


def test_refused_result_does_not_drop_the_work_its_poll_got(caplog):
    # E4 refused (the invocation had timed out), the pipelined E3 got work: the work is returned.
    srv = ScriptedServer([b'HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\nunknown', _WORK,
                          b'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n', _WORK])
    client = _client(srv.port)
    with caplog.at_level(logging.ERROR, logger=ipc_client.__name__):
        item = client.post_work_result_and_get_work(_FN, ipc_client.WorkItem('late', b'r', None))
    assert item == ipc_client.WorkItem('id-1', b'w', None)
    assert 'HTTP Error 404' in caplog.text
    # A refused poll still raises.
    srv2 = ScriptedServer([_OK, b'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'])
    with pytest.raises(IPCException, match='HTTP Error 403'):
        _client(srv2.port).post_work_result_and_get_work(_FN, ipc_client.WorkItem('x', b'r', None))
    srv.close()
    srv2.close()


def test_clients_of_one_thread_share_its_connection():
    srv = ScriptedServer([_OK, _OK])

    def run():
        _client(srv.port).put_initialization_result(_FN, None)
        _client(srv.port).put_initialization_result(_FN, None)
    _in_fresh_thread(run)
    assert srv.connections == 1
    srv.close()


def test_client_parses_answers_arriving_together_large_bodies_and_bare_lf():
    big = bytes(bytearray(range(256))) * (3 * 4096)  # 3 MB, arrives in many segments
    srv = ScriptedServer([
        _OK + _WORK,  # the answers to the pipelined POST + GET, in one write
        b'',
        b'HTTP/1.1 200 OK\r\nX-Amz-InvocationId: id-big\r\nContent-Length: ' + str(len(big)).encode() +
        b'\r\n\r\n' + big,
        b'HTTP/1.1 200 OK\nX-Amz-InvocationId: id-lf\nContent-Length: 2\n\nok',
    ])
    client = _client(srv.port)
    item = client.post_work_result_and_get_work(_FN, ipc_client.WorkItem('id-0', b'r', None))
    assert item == ipc_client.WorkItem('id-1', b'w', None)
    item = client.get_work(_FN)
    assert item.invocation_id == 'id-big' and item.payload == big
    item = client.get_work(_FN)
    assert item.invocation_id == 'id-lf' and item.payload == b'ok'
    assert srv.connections == 1
    srv.close()


def test_nowait_request_answered_before_the_server_hung_up_is_not_sent_twice():
    srv = ScriptedServer([
        _WORK,
        (_ACCEPTED, 'close'),  # m0 answered, then the server drops the connection
        _ACCEPTED,  # m1, on a new connection
        _OK,  # the result
    ])
    # With pauses: m0's answer and the hang-up arrive before m1 is written into the closed
    # connection, and the server's reset before the result.
    bodies = _two_nowait_publishes_then_a_result(srv, pause_s=0.1)
    # m0 was answered on the first connection: only m1 is sent again, once.
    assert bodies == [b'', b'm0', b'm1', b'r']
    assert srv.connections == 2
    srv.close()
