"""lambda_runtime.py against the fake IPC server: the E3/E4/E5/E6 work loop."""
import json
import signal
import time

from conftest import function_arn
from fake_ipc import b64json


def test_init_success_reported_with_e6(server, spawn):
    worker = spawn('echo.handler')
    arn, body = server.wait_init()
    assert arn == worker.arn
    assert body == {'Success': True, 'Response': ''}


def test_json_round_trip_and_context(server, spawn):
    worker = spawn('echo.handler', arn=function_arn('echo', '7'))
    result = server.invoke(worker.arn, b'{"a": [1, 2, "x"]}')
    assert result.func_err == ''
    out = json.loads(result.body)
    assert out['event'] == {'a': [1, 2, 'x']}
    assert out['arn'] == worker.arn
    assert out['name'] == 'echo'
    assert out['version'] == '7'
    assert out['identity'] is None
    assert out['memory'] == 32
    assert 0 < out['remaining'] <= 5000
    assert out['has_cc'] is False
    assert len(out['request_id']) == 36


def test_request_id_is_the_invocation_id(server, spawn):
    worker = spawn('echo.handler')
    result = server.wait_result(server.enqueue(worker.arn, b'1', invocation_id='inv-123'))
    assert json.loads(result.body)['request_id'] == 'inv-123'


def test_empty_json_payload_is_empty_dict(server, spawn):
    worker = spawn('echo.handler')
    assert json.loads(server.invoke(worker.arn, b'').body)['event'] == {}


def test_none_result_is_json_null(server, spawn):
    worker = spawn('echo.log_all', arn=function_arn('echo'))
    assert server.invoke(worker.arn, b'{}').body == b'"ok"'


def test_client_context_custom_subject(server, spawn):
    worker = spawn('echo.subject', arn=function_arn('echo'))
    result = server.invoke(worker.arn, b'{}', b64json({'custom': {'subject': 'dev/1/temp'}}))
    assert json.loads(result.body) == 'dev/1/temp'


def test_client_context_client_and_env(server, spawn):
    worker = spawn('echo.handler')
    cc = {'client': {'installation_id': 'i', 'app_title': 't', 'app_version_name': 'n',
                     'app_version_code': 'c', 'app_package_name': 'p'},
          'custom': {'k': 1}, 'env': {'e': 2}}
    out = json.loads(server.invoke(worker.arn, b'{}', b64json(cc)).body)
    assert out['custom'] == {'k': 1}
    assert out['client'] == ['i', 't', 'n', 'c', 'p']


def test_undecodable_client_context_is_ignored(server, spawn):
    worker = spawn('echo.handler')
    out = json.loads(server.invoke(worker.arn, b'{}', '!!notbase64').body)
    assert out['has_cc'] is False
    worker.wait_log('WARN', 'Ignoring client context')


def test_binary_round_trip(server, spawn):
    worker = spawn('binary_fn.handler', encoding='binary')
    raw = bytes(range(256))
    result = server.invoke(worker.arn, raw)
    assert result.func_err == ''
    assert result.body == raw[::-1]


def test_binary_text_result_is_utf8(server, spawn):
    worker = spawn('binary_fn.as_text', arn=function_arn('binary_fn'), encoding='binary')
    assert server.invoke(worker.arn, b'x').body == u'h\u00e9llo'.encode('utf-8')


def test_exception_posts_handled_error(server, spawn):
    worker = spawn('echo.fail', arn=function_arn('echo'))
    result = server.invoke(worker.arn, b'{}')
    assert result.func_err == 'Handled'
    body = json.loads(result.body)
    assert body['errorMessage'] == "'no such thing'"
    assert body['errorType'] == 'KeyError'
    assert any('echo.py' in frame for frame in body['stackTrace'])
    assert not any('lambda_runtime.py' in frame for frame in body['stackTrace'])
    worker.wait_log('ERROR', 'KeyError')
    # The worker survives and serves the next invocation.
    assert server.invoke(worker.arn, b'{}').func_err == 'Handled'


def test_invalid_json_payload_is_handled_error(server, spawn):
    worker = spawn('echo.handler')
    result = server.invoke(worker.arn, b'\xff not json')
    assert result.func_err == 'Handled'
    assert 'Could not parse the payload as JSON' in json.loads(result.body)['errorMessage']


def test_unserialisable_result_is_handled_error(server, spawn):
    worker = spawn('echo.unserialisable', arn=function_arn('echo'))
    result = server.invoke(worker.arn, b'{}')
    assert result.func_err == 'Handled'
    assert 'Unable to marshal' in json.loads(result.body)['errorMessage']


def test_import_error_reported_with_e6_and_nonzero_exit(server, spawn):
    worker = spawn('no_such_module.handler')
    arn, body = server.wait_init()
    assert arn == worker.arn
    assert body['Success'] is False
    assert body['Response'].startswith('ModuleNotFoundError("') or body['Response'].startswith('ImportError("')
    assert 'no_such_module' in body['Response']
    assert worker.wait() == 1
    worker.wait_log('ERROR', 'no_such_module')


def test_module_level_exception_reported_with_e6(server, spawn):
    worker = spawn('broken_import.handler')
    _, body = server.wait_init()
    assert body == {'Success': False, 'Response': 'RuntimeError("module level boom")'}
    assert worker.wait() == 1


def test_missing_or_uncallable_handler_reported_with_e6(server, spawn):
    worker = spawn('echo.nope')
    _, body = server.wait_init()
    assert body['Success'] is False and 'nope' in body['Response']
    assert worker.wait() == 1
    server.init_results.clear()
    worker = spawn('echo.not_callable')
    _, body = server.wait_init()
    assert body['Success'] is False and 'not callable' in body['Response']
    assert worker.wait() == 1


def test_bad_environment_exits_with_clear_error(server, spawn):
    worker = spawn('echo.handler', extra_env={'ENCODING_TYPE': 'xml'})
    assert worker.wait() == 2
    assert 'ENCODING_TYPE must be json or binary' in worker.output('stderr')


def test_sigterm_logs_and_exits_zero(server, spawn):
    worker = spawn('echo.handler')
    server.wait_init()
    time.sleep(0.2)  # let it block in the E3 long poll
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.wait() == 0
    worker.wait_log('INFO', 'Caught signal 15. Stopping runtime.')


def test_log_records_land_on_level_fds(server, spawn):
    worker = spawn('echo.log_all', arn=function_arn('echo'), log_level='DEBUG')
    assert server.invoke(worker.arn, b'{}').body == b'"ok"'
    for level, text in (('DEBUG', 'debug line'), ('INFO', 'info line'), ('WARN', 'warn line'),
                        ('ERROR', 'error line'), ('FATAL', 'fatal line')):
        worker.wait_log(level, text)  # the pipes are drained by reader threads: no race
        log = worker.log(level)
        lines = [line for line in log.splitlines() if text in line]
        assert lines, (level, log)
        assert lines[0].startswith('echo.py:') and lines[0].endswith(',' + text), lines[0]
        for other in ('debug line', 'info line', 'warn line', 'error line', 'fatal line'):
            if other != text:
                assert other not in log
    worker.stop()
    assert 'stdout line' in worker.output('stdout')
    assert 'echo module loaded' in worker.output('stdout')
    assert 'stderr line' in worker.output('stderr')


def test_log_level_filters(server, spawn):
    worker = spawn('echo.log_all', arn=function_arn('echo'), log_level='WARN')
    server.invoke(worker.arn, b'{}')
    worker.wait_log('WARN', 'warn line')
    worker.wait_log('ERROR', 'error line')
    assert 'info line' not in worker.log('INFO')
    assert 'debug line' not in worker.log('DEBUG')


def test_keep_alive_single_connection_and_latency(server, spawn):
    worker = spawn('echo.subject', arn=function_arn('echo'))
    server.wait_init()
    context = b64json({'custom': {'subject': 't'}})
    samples = []
    for _ in range(200):
        start = time.perf_counter()
        server.invoke(worker.arn, b'{"x": 1}', context)
        samples.append(time.perf_counter() - start)
    # E6, every E3 and every E4 on one kept-alive connection.
    assert server.connections == 1
    kinds = [(r.method, r.kind) for r in server.requests]
    assert kinds.count(('POST', 'work')) == 200
    samples.sort()
    p50_us = samples[len(samples) // 2] * 1e6
    print('runtime round trip through the Python fake server: p50 {:.0f} us'.format(p50_us))
    assert p50_us < 20000  # generous: guards against per-request connection setup or sleeps


def test_ipc_server_gone_makes_runtime_exit(server, spawn):
    worker = spawn('echo.handler', extra_env={'EVERGREEN_RUNTIME_MAX_IPC_FAILURES': '3'})
    server.wait_init()
    server.stop()
    # Wake the blocked E3 long poll by closing the server side; the runtime must give up.
    assert worker.wait(timeout=90) == 3
