# Calls AWS services with the GENUINE boto3 (Debian python3-boto3) and no credentials of its own:
# boto3's default chain finds the core's token exchange through AWS_CONTAINER_CREDENTIALS_FULL_URI
# + AWS_CONTAINER_AUTHORIZATION_TOKEN. Endpoints are emulators (event["kinesis"], event["s3"]).
# Reports {"tag", "ok", "akid"} or {"tag", "error"} on event["reply"].
#   op "kinesis": put_record(StreamName=event["stream"], Data=event["data"], PartitionKey="p")
#   op "s3":      put_object(Bucket=event["bucket"], Key=event["key"], Body=event["data"])
#   op "creds":   only resolve credentials (reports the access key id)
#   op "env":     reports the worker's token exchange environment (token, URI, regions)
import json
import os

import boto3
import greengrasssdk

iot = greengrasssdk.client('iot-data')
session = boto3.session.Session()  # one session: boto3 refreshes expiring credentials itself


def handler(event, context):
    out = {'tag': event.get('tag')}
    if event.get('op') == 'env':
        for k in ('AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_CONTAINER_CREDENTIALS_FULL_URI',
                  'AWS_REGION', 'AWS_DEFAULT_REGION'):
            out[k] = os.environ.get(k)
        iot.publish(topic=event.get('reply', 'tes/out'), payload=json.dumps(out))
        return
    try:
        creds = session.get_credentials().get_frozen_credentials()
        out['akid'] = creds.access_key
        op = event['op']
        if op == 'kinesis':
            k = session.client('kinesis', endpoint_url=event['kinesis'])
            r = k.put_record(StreamName=event['stream'], Data=event['data'].encode(),
                             PartitionKey='p')
            out['seq'] = r['SequenceNumber']
        elif op == 's3':
            s3 = session.client('s3', endpoint_url=event['s3'])
            s3.put_object(Bucket=event['bucket'], Key=event['key'], Body=event['data'].encode())
        out['ok'] = True
        out['region'] = os.environ.get('AWS_REGION')
    except Exception as e:  # reported to the test
        out['error'] = '%s: %s' % (type(e).__name__, e)
    iot.publish(topic=event.get('reply', 'tes/out'), payload=json.dumps(out))
