"""Our greengrasssdk, used from inside a worker, against the fake IPC server."""
import base64
import json

import pytest

from conftest import ROUTER_ARN, SECRETS_ARN, SHADOW_ARN, function_arn
from fake_ipc import HttpError


def call(server, worker, event):
    result = server.invoke(worker.arn, json.dumps(event).encode())
    assert result.func_err == '', result
    return json.loads(result.body)


def decoded_context(request):
    return json.loads(base64.b64decode(request.headers['x-amz-client-context']))


@pytest.fixture
def probe(server, spawn):
    return spawn('sdk_probe.handler')


def test_our_sdk_is_used_with_genuine_versions(server, probe):
    out = call(server, probe, {'op': 'meta'})
    assert out['module'].endswith('runtime/python/lib/greengrasssdk/__init__.py')
    assert out['version'] == '1.6.1'
    assert out['interface'] == '1.5'


@pytest.mark.parametrize('policy,wire', [(None, ''), ('BestEffort', 'BestEffort'), ('AllOrException', 'AllOrError')])
def test_publish_wire_shape(server, probe, policy, wire):
    server.responders[ROUTER_ARN] = lambda request: None  # the router never answers
    event = {'op': 'publish', 'topic': 'dev/1/temp', 'payload': 'héllo'}
    if policy is not None:
        event['policy'] = policy
    assert call(server, probe, event) == {'ret': None}
    [request] = server.requests_to(ROUTER_ARN)
    assert request.method == 'POST'
    assert request.headers['x-amz-invocation-type'] == 'Event'
    assert request.headers['authorization'] == 'test-token'
    assert request.body == 'héllo'.encode('utf-8')
    assert decoded_context(request) == {
        'custom': {'source': probe.arn, 'subject': 'dev/1/temp', 'queueFullPolicy': wire}}
    # Event + GGRouter: no E2 is ever issued.
    assert server.requests_to(ROUTER_ARN, method='GET') == []


def test_publish_rejects_wire_spelling_of_policy(server, probe):
    out = call(server, probe, {'op': 'publish', 'topic': 't', 'policy': 'AllOrError'})
    assert out['exc'] == 'ValueError'
    assert server.requests_to(ROUTER_ARN) == []


def test_publish_http_error_is_invocation_exception(server, probe):
    def reject(request):
        raise HttpError(429)
    server.responders[ROUTER_ARN] = reject
    out = call(server, probe, {'op': 'publish', 'topic': 't', 'policy': 'AllOrException'})
    assert out['exc'] == 'InvocationException'
    assert out['msg'] == 'Failed to invoke function due to HTTP Error 429: Too Many Requests'


def test_handler_publishes_ride_the_runtime_connection_before_the_result(server, probe):
    # In the invocation thread publish does not wait for each 202: the requests are
    # pipelined on the runtime's own connection, all before the invocation's result.
    server.responders[ROUTER_ARN] = lambda request: None
    invocation_id = server.enqueue(probe.arn, json.dumps({'op': 'publish_many', 'count': 20}).encode())
    result = server.wait_result(invocation_id)
    assert json.loads(result.body) == {'ret': [None] * 20}
    with server.cond:
        requests = list(server.requests)
    kinds = [(r.kind, r.method) for r in requests if r.arn in (ROUTER_ARN, probe.arn)]
    first_result = kinds.index(('work', 'POST'))
    assert kinds[first_result - 20:first_result] == [('invoke', 'POST')] * 20
    assert [r.body for r in server.requests_to(ROUTER_ARN)] == [str(i).encode() for i in range(20)]
    assert server.connections == 1  # the SDK's client shares the runtime thread's connection


def test_publish_context_cache_keys_on_topic_and_policy(server, probe):
    server.responders[ROUTER_ARN] = lambda request: None
    for event in ({'op': 'publish', 'topic': 't', 'policy': 'BestEffort'},
                  {'op': 'publish', 'topic': 't'},
                  {'op': 'publish', 'topic': 't', 'policy': 'BestEffort'},
                  {'op': 'publish', 'topic': 'u', 'policy': 'BestEffort'}):
        assert call(server, probe, event) == {'ret': None}
    contexts = [decoded_context(r)['custom'] for r in server.requests_to(ROUTER_ARN)]
    assert [(c['subject'], c['queueFullPolicy']) for c in contexts] == [
        ('t', 'BestEffort'), ('t', ''), ('t', 'BestEffort'), ('u', 'BestEffort')]


def test_best_effort_publish_refused_after_returning_is_logged(server, probe):
    def reject(request):
        raise HttpError(429)
    server.responders[ROUTER_ARN] = reject
    assert call(server, probe, {'op': 'publish', 'topic': 'dev/full', 'policy': 'BestEffort'}) == {'ret': None}
    probe.wait_log('ERROR', 'publish to topic "dev/full" was refused by the core: HTTP Error 429')
    # The worker goes on serving invocations.
    server.responders[ROUTER_ARN] = lambda request: None
    assert call(server, probe, {'op': 'publish', 'topic': 't'}) == {'ret': None}


def test_publish_from_another_thread_waits_and_raises(server, probe):
    def reject(request):
        raise HttpError(429)
    server.responders[ROUTER_ARN] = reject
    out = call(server, probe, {'op': 'publish_in_thread'})
    assert out['exc'] == 'InvocationException'
    assert out['msg'] == 'Failed to invoke function due to HTTP Error 429: Too Many Requests'


def test_invocation_type_header_injection_refused(server, probe):
    out = call(server, probe, {'op': 'invoke', 'args': {
        'FunctionName': function_arn('x', '1'), 'InvocationType': 'Event\r\nX-Evil: 1'}})
    assert out['exc'] == 'ValueError'
    assert server.requests_to(function_arn('x', '1')) == []


def test_invoke_request_response_through_second_worker(server, spawn, probe):
    target = spawn('echo.subject', arn=function_arn('echo', '3'))
    cc = base64.b64encode(json.dumps({'custom': {'subject': 'hello'}}).encode()).decode()
    out = call(server, probe, {'op': 'invoke', 'args': {
        'FunctionName': function_arn('echo', '3'), 'ClientContext': cc, 'Payload': '{}'}})
    assert out == {'streaming': True, 'payload': '"hello"', 'function_error': '',
                   'keys': ['FunctionError', 'Payload']}
    [post] = server.requests_to(target.arn)
    assert post.headers['x-amz-invocation-type'] == 'RequestResponse'
    assert post.headers['x-amz-client-context'] == cc


def test_invoke_qualifier_argument_and_event(server, spawn, probe):
    target = spawn('echo.handler', arn=function_arn('echo', '5'))
    unqualified = 'arn:aws:lambda:us-east-1:123456789012:function:echo'
    out = call(server, probe, {'op': 'invoke', 'args': {
        'FunctionName': unqualified, 'Qualifier': '5', 'InvocationType': 'Event', 'Payload': '{"n": 1}'}})
    assert out == {'streaming': False, 'payload': '', 'function_error': '', 'keys': ['FunctionError', 'Payload']}
    [post] = server.requests_to(target.arn)
    assert post.headers['x-amz-invocation-type'] == 'Event'
    assert post.body == b'{"n": 1}'


def test_invoke_handled_error_returns_raw_payload(server, spawn, probe):
    spawn('echo.fail', arn=function_arn('echo', '1'))
    out = call(server, probe, {'op': 'invoke', 'args': {'FunctionName': function_arn('echo', '1')}})
    assert out['streaming'] is False
    assert out['function_error'] == 'Handled'
    assert json.loads(out['payload'])['errorType'] == 'KeyError'


@pytest.mark.parametrize('args,needle', [
    ({}, 'FunctionName'),
    ({'FunctionName': 'just-a-name'}, 'function ARN'),
    ({'FunctionName': function_arn('f', '1'), 'Qualifier': '2'}, 'does not match'),
    ({'FunctionName': function_arn('f', '1'), 'ClientContext': 'not base64!'}, 'base64'),
])
def test_invoke_argument_errors_are_value_errors(server, probe, args, needle):
    out = call(server, probe, {'op': 'invoke', 'args': args})
    assert out['exc'] == 'ValueError'
    assert needle in out['msg']


def test_invoke_unhandled_error_returns_raw_payload(server, probe):
    server.responders[function_arn('crashy')] = lambda request: (b'worker crashed', 'Unhandled')
    out = call(server, probe, {'op': 'invoke', 'args': {'FunctionName': function_arn('crashy')}})
    assert out == {'streaming': False, 'payload': 'worker crashed', 'function_error': 'Unhandled',
                   'keys': ['FunctionError', 'Payload']}


def _shadow_responder(body, func_err):
    def respond(request):
        return (body, func_err)
    return respond


def test_shadow_success_requires_empty_function_error_header(server, probe):
    server.responders[SHADOW_ARN] = _shadow_responder(b'{"state": {"reported": {"on": true}}}', '')
    out = call(server, probe, {'op': 'shadow', 'method': 'get_thing_shadow', 'args': {'thingName': 'lamp'}})
    assert out == {'keys': ['payload'], 'payload': '{"state": {"reported": {"on": true}}}'}
    [request] = server.requests_to(SHADOW_ARN)
    assert request.headers['x-amz-invocation-type'] == 'RequestResponse'
    assert request.body == b''
    assert decoded_context(request) == {'custom': {'subject': '$aws/things/lamp/shadow/get'}}


def test_shadow_missing_function_error_header_raises(server, probe):
    server.responders[SHADOW_ARN] = _shadow_responder(b'{"state": {}}', None)
    out = call(server, probe, {'op': 'shadow', 'method': 'get_thing_shadow', 'args': {'thingName': 'lamp'}})
    assert out['exc'] == 'ShadowError'


def test_shadow_error_document_raises(server, probe):
    server.responders[SHADOW_ARN] = _shadow_responder(
        b'{"code": 404, "message": "No shadow exists with name: lamp", "timestamp": 1}', '')
    out = call(server, probe, {'op': 'shadow', 'method': 'delete_thing_shadow', 'args': {'thingName': 'lamp'}})
    assert out['exc'] == 'ShadowError'
    assert '404' in out['msg'] and 'No shadow exists' in out['msg']
    [request] = server.requests_to(SHADOW_ARN)
    assert decoded_context(request)['custom']['subject'] == '$aws/things/lamp/shadow/delete'


def test_shadow_update_sends_document(server, probe):
    server.responders[SHADOW_ARN] = _shadow_responder(b'{"state": {"desired": {"on": false}}}', '')
    doc = '{"state": {"desired": {"on": false}}}'
    out = call(server, probe, {'op': 'shadow', 'method': 'update_thing_shadow',
                               'args': {'thingName': 'lamp', 'payload': doc}})
    assert out['payload'] == doc
    [request] = server.requests_to(SHADOW_ARN)
    assert request.body == doc.encode()
    assert decoded_context(request)['custom']['subject'] == '$aws/things/lamp/shadow/update'


def test_shadow_missing_thing_name_is_value_error(server, probe):
    out = call(server, probe, {'op': 'shadow', 'method': 'update_thing_shadow', 'args': {'thingName': 'x'}})
    assert out['exc'] == 'ValueError' and 'payload' in out['msg']


SECRET = {'ARN': 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-abc', 'Name': 'db',
          'VersionId': 'v1', 'SecretString': 's3cr3t', 'SecretBinary': None, 'VersionStages': ['AWSCURRENT'],
          'CreatedDate': 1563000000123}


def test_secret_success_converts_created_date(server, probe):
    server.responders[SECRETS_ARN] = _shadow_responder(json.dumps(SECRET).encode(), '')
    out = call(server, probe, {'op': 'secret', 'args': {'SecretId': 'db', 'VersionStage': 'AWSCURRENT'}})
    assert out['CreatedDate']['type'] == 'datetime'
    assert out['CreatedDate']['iso'].endswith('.123000')
    assert out['SecretString'] == 's3cr3t' and out['Name'] == 'db'
    [request] = server.requests_to(SECRETS_ARN)
    assert json.loads(request.body) == {'SecretId': 'db', 'VersionStage': 'AWSCURRENT'}
    assert request.headers['x-amz-client-context'] == ''
    assert request.headers['x-amz-invocation-type'] == 'RequestResponse'


def test_secret_error_document_raises(server, probe):
    server.responders[SECRETS_ARN] = _shadow_responder(b'{"Status": 404, "Message": "Secret not found"}', '')
    out = call(server, probe, {'op': 'secret', 'args': {'SecretId': 'nope'}})
    assert out['exc'] == 'SecretsManagerError'
    assert '404' in out['msg'] and 'Secret not found' in out['msg']


def test_secret_version_id_refused_client_side(server, probe):
    out = call(server, probe, {'op': 'secret', 'args': {'SecretId': 'db', 'VersionId': 'v1'}})
    assert out == {'exc': 'SecretsManagerError', 'msg': 'Query by VersionId is not yet supported'}
    assert server.requests_to(SECRETS_ARN) == []


def test_secret_missing_secret_id_is_value_error(server, probe):
    out = call(server, probe, {'op': 'secret', 'args': {}})
    assert out['exc'] == 'ValueError' and 'SecretId' in out['msg']


def test_publish_from_many_threads(server, spawn):
    server.responders[ROUTER_ARN] = lambda request: None
    worker = spawn('sdk_probe.publish_from_threads', arn=function_arn('sdk_probe'))
    out = call(server, worker, {'threads': 6, 'per_thread': 25})
    assert out == {'errors': []}
    requests = server.requests_to(ROUTER_ARN)
    assert len(requests) == 150
    for n in range(6):
        payloads = [r.body for r in requests if decoded_context(r)['custom']['subject'] == 't/{}'.format(n)]
        assert payloads == [str(i).encode() for i in range(25)]


def test_bundled_sdk_wins_but_runtime_side_modules_are_ours(server, spawn):
    import os
    from conftest import FUNCTIONS_DIR
    worker = spawn('which.handler', code_dir=os.path.join(FUNCTIONS_DIR, 'bundled'))
    out = call(server, worker, {})
    assert out == {'sdk_bundled': True, 'ipc_stale': False, 'ipc_has_client': True}
