# Uses the GENUINE greengrasssdk StreamManagerClient (bundled in this code directory by the test,
# copied from <shared>/vendor at test time) from inside a deployed function: the client reads
# STREAM_MANAGER_SERVER_PORT and AWS_CONTAINER_AUTHORIZATION_TOKEN from the environment the core
# gives the worker. Reports on event["reply"] through the genuine iot-data client.
import json
import time

import greengrasssdk
from greengrasssdk.stream_manager import (MessageStreamDefinition, Persistence,
                                          ReadMessagesOptions, StrategyOnFull,
                                          StreamManagerClient)

iot = greengrasssdk.client('iot-data')


def run(ev):
    name = ev['stream']
    n = ev['count']
    c = StreamManagerClient()
    try:
        if name in c.list_streams():
            c.delete_message_stream(name)
        c.create_message_stream(MessageStreamDefinition(
            name=name, strategy_on_full=StrategyOnFull.OverwriteOldestData,
            persistence=Persistence.File))
        t0 = time.monotonic()
        seqs = [c.append_message(name, ('m%d' % i).encode()) for i in range(n)]
        took = time.monotonic() - t0
        msgs = c.read_messages(name, ReadMessagesOptions(
            desired_start_sequence_number=0, min_message_count=n, max_message_count=n,
            read_timeout_millis=5000))
        info = c.describe_message_stream(name)
        return {'seqs_ok': seqs == list(range(n)),
                'payloads_ok': [m.payload for m in msgs] == [('m%d' % i).encode()
                                                             for i in range(n)],
                'read': len(msgs), 'newest': info.storage_status.newest_sequence_number,
                'append_s': took, 'port': c.port}
    finally:
        c.close()


def handler(event, context):
    try:
        out = run(event)
    except Exception as e:  # reported, not raised: the test checks the type
        out = {'error_type': type(e).__name__, 'error': str(e)}
    out['tag'] = event.get('tag')
    iot.publish(topic=event['reply'], payload=json.dumps(out))
