"""Drives greengrasssdk from inside a worker; returns what happened as JSON."""
import base64
import json

import greengrasssdk

iot = greengrasssdk.client('iot-data')
lam = greengrasssdk.client('lambda')
secrets = greengrasssdk.client('secretsmanager')


def _exc(e):
    return {'exc': type(e).__name__, 'msg': str(e)}


def handler(event, context):
    op = event['op']
    try:
        if op == 'meta':
            return {'module': greengrasssdk.__file__, 'version': greengrasssdk.__version__,
                    'interface': greengrasssdk.INTERFACE_VERSION}
        if op == 'publish':
            kwargs = dict(topic=event['topic'], payload=event.get('payload', ''))
            if 'policy' in event:
                kwargs['queueFullPolicy'] = event['policy']
            return {'ret': iot.publish(**kwargs)}
        if op == 'publish_many':
            return {'ret': [iot.publish(topic='t/{}'.format(i), payload=str(i)) for i in range(event['count'])]}
        if op == 'publish_in_thread':
            import threading
            out = {}

            def publish():
                try:
                    out['ret'] = iot.publish(topic='t', payload='x')
                except Exception as e:  # reported to the test
                    out.update(_exc(e))
            thread = threading.Thread(target=publish)
            thread.start()
            thread.join()
            return out
        if op == 'invoke':
            kwargs = dict(event['args'])
            if 'ClientContext' in kwargs:
                kwargs['ClientContext'] = kwargs['ClientContext'].encode()
            if 'Payload' in kwargs:
                kwargs['Payload'] = kwargs['Payload'].encode()
            response = lam.invoke(**kwargs)
            payload = response['Payload']
            streaming = hasattr(payload, 'read')
            body = payload.read() if streaming else payload
            return {'streaming': streaming, 'payload': body.decode('latin-1'),
                    'function_error': response['FunctionError'], 'keys': sorted(response)}
        if op == 'shadow':
            method = getattr(iot, event['method'])
            response = method(**event['args'])
            return {'keys': sorted(response), 'payload': response['payload'].decode('utf-8')}
        if op == 'secret':
            response = secrets.get_secret_value(**event['args'])
            created = response['CreatedDate']
            response['CreatedDate'] = {'type': type(created).__name__, 'iso': created.isoformat()}
            return response
    except Exception as e:
        return _exc(e)
    raise ValueError('unknown op ' + op)


def publish_from_threads(event, context):
    """Publishes concurrently from several threads (each gets its own IPC connection)."""
    import threading
    errors = []

    def worker(n):
        try:
            for i in range(event['per_thread']):
                iot.publish(topic='t/{}'.format(n), payload='{}'.format(i))
        except Exception as e:  # pragma: no cover - reported to the test
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(event['threads'])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {'errors': errors}
