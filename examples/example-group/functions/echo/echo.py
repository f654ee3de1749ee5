# An on-demand function: echoes every event it receives to echo/out, with the input topic.
import json

import greengrasssdk

client = greengrasssdk.client('iot-data')


def handler(event, context):
    subject = context.client_context.custom.get('subject') if context.client_context else None
    client.publish(topic='echo/out', payload=json.dumps({'topic': subject, 'event': event}))
    return {'echoed': True}
