# Pinned function: code outside the handler runs once when the worker starts (the print below
# lands once in the user log); module state (the counter) lives across invocations.
import json
import os

import greengrasssdk

client = greengrasssdk.client('iot-data')
state = {'count': 0}
print('counter module initialised in pid %d' % os.getpid())


def handler(event, context):
    state['count'] += 1
    client.publish(topic='counter/out',
                   payload=json.dumps({'count': state['count'], 'pid': os.getpid(),
                                       'event': event}))
