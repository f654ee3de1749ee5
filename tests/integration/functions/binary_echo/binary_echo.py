# EncodingType binary -- the event is the raw payload (bytes); republish it unchanged.
import greengrasssdk

client = greengrasssdk.client('iot-data')


def handler(event, context):
    if not isinstance(event, (bytes, bytearray)):
        client.publish(topic='binary/out', payload=b'NOT BYTES: ' + repr(type(event)).encode())
        return
    client.publish(topic='binary/out', payload=bytes(event))
