# Benchmark echo (binary encoding): republish the event bytes unchanged.
import greengrasssdk

client = greengrasssdk.client('iot-data')


def handler(event, context):
    client.publish(topic='bench/out', payload=event)
