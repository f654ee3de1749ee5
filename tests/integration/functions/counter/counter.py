# Pinned function: code outside the handler runs once when the worker starts; module state
# (the counter) lives across invocations.
import json
import os

import greengrasssdk

client = greengrasssdk.client('iot-data')
state = {'count': 0, 'imports': 0}
state['imports'] += 1
client.publish(topic='counter/started', payload=json.dumps({'pid': os.getpid()}))


def handler(event, context):
    state['count'] += 1
    client.publish(topic='counter/out',
                   payload=json.dumps({'count': state['count'], 'pid': os.getpid(),
                                       'imports': state['imports'], 'event': event}))
