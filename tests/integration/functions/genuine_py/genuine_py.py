# Drives the GENUINE greengrasssdk 1.6.1 (bundled in this code directory by the test, copied from
# <shared>/vendor) and reports every outcome on event["reply"] through the genuine iot-data client.
#
# handler         (json)   op = whoami | publish | invoke | shadow | secret
# binary_handler  (binary) returns the event bytes reversed and publishes them on genuine/py/bin
import base64
import json

import greengrasssdk

iot = greengrasssdk.client('iot-data')
lam = greengrasssdk.client('lambda')
sec = greengrasssdk.client('secretsmanager')


def _error(e):
    return {'error_type': type(e).__module__ + '.' + type(e).__name__, 'error': str(e)}


def _payload(p):
    """Payload of an invoke answer: StreamingBody on success, raw bytes on a function error."""
    kind = type(p).__module__ + '.' + type(p).__name__
    raw = p.read() if hasattr(p, 'read') else p
    if isinstance(raw, str):
        raw = raw.encode()
    return kind, base64.b64encode(raw).decode()


def run(ev):
    op = ev['op']
    if op == 'whoami':
        return {'file': greengrasssdk.__file__, 'version': greengrasssdk.__version__,
                'interface': greengrasssdk.INTERFACE_VERSION}
    if op == 'publish':
        kw = {'topic': ev['topic'], 'payload': base64.b64decode(ev['payload_b64'])}
        if 'policy' in ev:
            kw['queueFullPolicy'] = ev['policy']
        return {'result': iot.publish(**kw)}
    if op == 'invoke':
        kw = {'FunctionName': ev['target']}
        for key in ('Qualifier', 'InvocationType'):
            if key in ev:
                kw[key] = ev[key]
        if 'payload_b64' in ev:
            kw['Payload'] = base64.b64decode(ev['payload_b64'])
        if 'client_context' in ev:
            kw['ClientContext'] = ev['client_context'].encode()
        r = lam.invoke(**kw)
        kind, b64 = _payload(r['Payload'])
        return {'keys': sorted(r), 'FunctionError': r['FunctionError'], 'payload_type': kind,
                'payload_b64': b64}
    if op == 'shadow':
        kw = {'thingName': ev['thing']}
        if ev['action'] == 'update':
            kw['payload'] = json.dumps(ev['doc'])
        r = getattr(iot, ev['action'] + '_thing_shadow')(**kw)
        return {'keys': sorted(r), 'payload': json.loads(r['payload'].decode())}
    if op == 'secret':
        kw = {k: ev[k] for k in ('SecretId', 'VersionStage', 'VersionId') if k in ev}
        r = sec.get_secret_value(**kw)
        r['CreatedDate'] = [type(r['CreatedDate']).__name__, r['CreatedDate'].timestamp()]
        return {'result': r}
    raise ValueError('unknown op ' + op)


def handler(event, context):
    try:
        out = run(event)
    except Exception as e:  # the genuine SDK's exception types are what the test checks
        out = _error(e)
    out['tag'] = event.get('tag')
    iot.publish(topic=event.get('reply', 'genuine/py/result'), payload=json.dumps(out))
    return out


def binary_handler(event, context):
    iot.publish(topic='genuine/py/bin', payload=bytes(event))
    return bytes(event)[::-1]
