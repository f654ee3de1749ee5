# Sleeps event["sleep"] seconds, then publishes and returns what it did (tag, pid, wall times).
import json
import os
import time

import greengrasssdk

client = greengrasssdk.client('iot-data')


def handler(event, context):
    start = time.time()
    time.sleep(float(event.get('sleep', 0)))
    out = {'tag': event.get('tag'), 'pid': os.getpid(), 'start': start, 'end': time.time()}
    client.publish(topic='sleeper/out', payload=json.dumps(out))
    return out
