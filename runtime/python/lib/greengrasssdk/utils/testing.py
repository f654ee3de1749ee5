# Local-testing hook, same behaviour as the genuine greengrasssdk.utils.testing:
# when MY_FUNCTION_ARN is not set at import time (i.e. the code is not running
# under a core), Lambda.Client._invoke_internal never reaches IPC and returns
# canned results instead.
import functools
import json

from greengrass_common.env_vars import MY_FUNCTION_ARN


def mock(func):
    if MY_FUNCTION_ARN is not None:
        return func

    @functools.wraps(func)
    def mocked(self, function_arn, payload, client_context, invocation_type='RequestResponse'):
        if invocation_type == 'RequestResponse':
            return {'Payload': json.dumps({'TestKey': 'TestValue'}), 'FunctionError': ''}
        if invocation_type == 'Event':
            return {'Payload': b'', 'FunctionError': ''}
        raise Exception('Unsupported invocation type {}'.format(invocation_type))

    return mocked
