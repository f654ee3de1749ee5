# mode "ok": publishes and returns its pid; "raise": a handled error; "exit": the worker dies.
import json
import os

import greengrasssdk

client = greengrasssdk.client('iot-data')


def handler(event, context):
    mode = event.get('mode', 'ok')
    if mode == 'raise':
        raise ValueError('boom from faulty: ' + str(event.get('tag')))
    if mode == 'exit':
        os._exit(1)
    out = {'pid': os.getpid(), 'tag': event.get('tag')}
    client.publish(topic='faulty/out', payload=json.dumps(out))
    return out
