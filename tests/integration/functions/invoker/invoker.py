# Drives the Core SDK from inside a function and publishes what it saw on event["reply"]
# (default "invoker/result"). Operations (event["op"]):
#   invoke  - greengrasssdk lambda.invoke(FunctionName=target, InvocationType=type,
#             Qualifier=qualifier, ClientContext=base64(json(client_context)), Payload=json(payload))
#             -> {"FunctionError", "Payload", "elapsed_ms"} or {"error"}
#   publish - iot-data.publish(topic, payload, queueFullPolicy) -> {"ok"} or {"error"}
#   raw     - one HTTP request to the IPC port with this worker's own token -> {"status", "body"}
#             (event["pad_bytes"]: the body is {"sleep": 0, "pad": "x" * pad_bytes})
#   bench   - n RequestResponse invokes of target in a loop -> {"lat_us": [...], "errors": k}
import base64
import http.client
import json
import os
import time

import greengrasssdk

lam = greengrasssdk.client('lambda')
iot = greengrasssdk.client('iot-data')


def _invoke(event):
    kw = {'FunctionName': event['target'],
          'InvocationType': event.get('type', 'RequestResponse'),
          'Payload': json.dumps(event.get('payload', {}))}
    if event.get('qualifier'):
        kw['Qualifier'] = event['qualifier']
    if event.get('client_context') is not None:
        kw['ClientContext'] = base64.b64encode(json.dumps(event['client_context']).encode())
    t0 = time.monotonic()
    try:
        r = lam.invoke(**kw)
    except Exception as e:  # reported to the test, not raised
        return {'error': '%s: %s' % (type(e).__name__, e)}
    body = r['Payload']
    if hasattr(body, 'read'):
        body = body.read()
    return {'FunctionError': r['FunctionError'],
            'Payload': body.decode('utf-8', 'replace') if isinstance(body, bytes) else body,
            'elapsed_ms': (time.monotonic() - t0) * 1000.0}


def _publish(event):
    try:
        iot.publish(topic=event['topic'], payload=json.dumps(event.get('payload', {})),
                    queueFullPolicy=event.get('policy', ''))
        return {'ok': True}
    except Exception as e:
        return {'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}


def _raw(event):
    port = int(os.environ.get('GG_DAEMON_PORT', '8000'))
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=float(event.get('timeout', 3)))
    headers = {'Authorization': os.environ.get('AWS_CONTAINER_AUTHORIZATION_TOKEN', '')}
    headers.update(event.get('headers', {}))
    body = event.get('body')
    if event.get('pad_bytes'):  # a JSON body bigger than an MQTT message may be
        body = json.dumps({'sleep': 0, 'pad': 'x' * int(event['pad_bytes'])})
    try:
        conn.request(event.get('method', 'GET'), event['path'], body=body,
                     headers=headers)
        r = conn.getresponse()
        return {'status': r.status, 'body': r.read().decode('utf-8', 'replace')}
    except Exception as e:
        return {'status': None, 'error': '%s: %s' % (type(e).__name__, e)}
    finally:
        conn.close()


def _bench(event):
    payload = json.dumps(event.get('payload', {}))
    target = event['target']
    lat = []
    errors = 0
    for _ in range(int(event.get('n', 100))):
        t0 = time.perf_counter()
        r = lam.invoke(FunctionName=target, InvocationType='RequestResponse', Payload=payload)
        r['Payload'].read() if hasattr(r['Payload'], 'read') else None
        lat.append((time.perf_counter() - t0) * 1e6)
        if r['FunctionError']:
            errors += 1
    return {'lat_us': [round(x, 1) for x in lat], 'errors': errors}


OPS = {'invoke': _invoke, 'publish': _publish, 'raw': _raw, 'bench': _bench}


def handler(event, context):
    out = OPS[event['op']](event)
    out['tag'] = event.get('tag')
    iot.publish(topic=event.get('reply', 'invoker/result'), payload=json.dumps(out))
    return out
