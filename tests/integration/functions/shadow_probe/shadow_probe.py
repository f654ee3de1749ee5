# Drives the Core SDK's shadow and secrets clients from inside a function and publishes what it
# saw on event["reply"] (default "probe/out"). Operations (event["op"]):
#   get | update | delete - iot-data get/update/delete_thing_shadow(thingName=event["thing"],
#             payload=json(event["doc"]) for update) -> {"payload": <parsed JSON>} or {"error"}
#   secret  - secretsmanager.get_secret_value(SecretId=event["id"][, VersionStage=event["stage"]])
#             -> {"result": {..., "CreatedDate": iso}} or {"error"}
#   bench   - n updates of event["thing"] in a loop -> {"lat_us": [...], "errors": k}
import json
import time

import greengrasssdk

iot = greengrasssdk.client('iot-data')
sm = greengrasssdk.client('secretsmanager')


def _shadow(event):
    op = event['op']
    try:
        if op == 'get':
            r = iot.get_thing_shadow(thingName=event['thing'])
        elif op == 'update':
            doc = event['doc']
            payload = doc if isinstance(doc, str) else json.dumps(doc)
            r = iot.update_thing_shadow(thingName=event['thing'], payload=payload)
        else:
            r = iot.delete_thing_shadow(thingName=event['thing'])
    except Exception as e:  # reported to the test
        return {'error': '%s: %s' % (type(e).__name__, e)}
    body = r['payload']
    if isinstance(body, bytes):
        body = body.decode('utf-8')
    return {'payload': json.loads(body)}


def _secret(event):
    kw = {'SecretId': event['id']}
    if event.get('stage'):
        kw['VersionStage'] = event['stage']
    try:
        r = sm.get_secret_value(**kw)
    except Exception as e:
        return {'error': '%s: %s' % (type(e).__name__, e)}
    r = dict(r)
    r['CreatedDate'] = r['CreatedDate'].isoformat()
    if isinstance(r.get('SecretBinary'), bytes):
        r['SecretBinary'] = r['SecretBinary'].decode('ascii')
    return {'result': r}


def _bench(event):
    lat, errors = [], 0
    for i in range(int(event.get('n', 100))):
        t0 = time.monotonic()
        try:
            iot.update_thing_shadow(thingName=event['thing'],
                                    payload=json.dumps({'state': {'reported': {'i': i}}}))
        except Exception:
            errors += 1
        lat.append(int((time.monotonic() - t0) * 1e6))
    return {'lat_us': lat, 'errors': errors}


def handler(event, context):
    op = event.get('op')
    if op in ('get', 'update', 'delete'):
        out = _shadow(event)
    elif op == 'secret':
        out = _secret(event)
    elif op == 'bench':
        out = _bench(event)
    else:
        out = {'error': 'unknown op %r' % (op,)}
    out['tag'] = event.get('tag')
    iot.publish(topic=event.get('reply', 'probe/out'), payload=json.dumps(out))
    return out
