# Shadow + secrets example (Greengrass v1 Core SDK, unmodified API).
# Each message on its input topic updates the reported state of thing "ExampleLamp" from the
# event, reads the shadow back and publishes the delta (what is still desired) on
# "example/shadow/result". If the group grants the function the secret resource "example-secret"
# it also reports the secret's version id (never the value).
import json

import greengrasssdk

iot = greengrasssdk.client('iot-data')
secrets = greengrasssdk.client('secretsmanager')

THING = 'ExampleLamp'
SECRET_ID = 'example-secret'


def function_handler(event, context):
    reported = event if isinstance(event, dict) else {'value': event}
    iot.update_thing_shadow(thingName=THING,
                            payload=json.dumps({'state': {'reported': reported}}))
    doc = json.loads(iot.get_thing_shadow(thingName=THING)['payload'])
    result = {'version': doc['version'], 'delta': doc['state'].get('delta', {})}
    try:
        result['secretVersion'] = secrets.get_secret_value(SecretId=SECRET_ID)['VersionId']
    except Exception as e:  # not granted or not stored: say so
        result['secretError'] = str(e)
    iot.publish(topic='example/shadow/result', payload=json.dumps(result))
    return result
