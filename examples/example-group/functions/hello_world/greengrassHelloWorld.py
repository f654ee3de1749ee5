# A pinned (long-lived) function in the style of the v1 HelloWorld sample: code outside the
# handler runs once when the core starts it and publishes on a timer; state lives across calls.
import json
import logging
import platform
from threading import Timer

import greengrasssdk

client = greengrasssdk.client('iot-data')
my_platform = platform.platform()
counter = {'n': 0}


def greengrass_hello_world_run():
    counter['n'] += 1
    client.publish(
        topic='hello/world',
        payload=json.dumps({'message': 'Hello world! Sent from Evergreen running on ' + my_platform,
                            'count': counter['n']}))
    Timer(5, greengrass_hello_world_run).start()


greengrass_hello_world_run()


def function_handler(event, context):
    # Invocations on hello/world/ping answer with the number of messages sent so far.
    client.publish(topic='hello/world/pong', payload=json.dumps({'count': counter['n']}))
    return
