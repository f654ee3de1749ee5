# Writes to the user log through logging (INFO, WARNING) and print, then says so on logger/out.
import json
import logging

import greengrasssdk

client = greengrasssdk.client('iot-data')
logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


def handler(event, context):
    tag = event.get('tag', '')
    logging.info('info line from the handler %s', tag)
    logger.warning('warning line from the handler %s', tag)
    print('printed line from the handler ' + tag)
    client.publish(topic='logger/out', payload=json.dumps({'tag': tag}))
