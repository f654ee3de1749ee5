# greengrasssdk.Lambda: invoke other local Lambda functions (reference section 3.1).
#
# Client.invoke(FunctionName=<full ARN>, InvocationType='RequestResponse'|'Event',
#               ClientContext=<base64 bytes>, Payload=<bytes|str>, Qualifier=<str>)
#   Event           -> {'Payload': b'', 'FunctionError': ''}
#   RequestResponse -> {'Payload': StreamingBody (success) or raw bytes (error),
#                       'FunctionError': X-Amz-Function-Error verbatim ('' on success)}
# Raises ValueError for bad arguments and InvocationException when IPC fails.
import logging
import re
from io import BytesIO

from greengrass_common.function_arn_fields import FunctionArnFields
from greengrass_ipc_python_sdk.ipc_client import IPCClient, IPCException
from greengrasssdk.utils.testing import mock

# SDK log lines belong in the customer's log: propagate to the root logger,
# which the runtime points at the function's log pipes.
customer_logger = logging.getLogger(__name__)
customer_logger.propagate = True

valid_base64_regex = '^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)$'
_VALID_BASE64 = re.compile(valid_base64_regex)


class InvocationException(Exception):
    pass


class Client(object):
    def __init__(self, endpoint='localhost', port=None):
        """
        :param endpoint: Endpoint used to connect to IPC.
        :param port: Deprecated, ignored: the port comes from GG_DAEMON_PORT.
        """
        self.ipc = IPCClient(endpoint=endpoint, port=port)

    def invoke(self, **kwargs):
        if 'FunctionName' not in kwargs:
            raise ValueError(
                '"FunctionName" argument of Lambda.Client.invoke is a required argument but was not provided.')

        arn_fields = FunctionArnFields(kwargs['FunctionName'])
        arn_qualifier = arn_fields.qualifier

        # Like the cloud: a qualifier in the ARN and a different Qualifier argument is an error.
        extraneous_qualifier = kwargs.get('Qualifier', '')
        if extraneous_qualifier and arn_qualifier and arn_qualifier != extraneous_qualifier:
            raise ValueError('The derived qualifier from the function name does not match the specified qualifier.')
        final_qualifier = arn_qualifier if arn_qualifier else extraneous_qualifier
        function_arn = FunctionArnFields.build_function_arn(arn_fields.unqualified_arn, final_qualifier)

        try:
            client_context = kwargs.get('ClientContext', b'').decode()
        except AttributeError as e:
            customer_logger.exception(e)
            raise ValueError(
                '"ClientContext" argument must be a byte string or support a decode method which returns a string')
        if client_context and not _VALID_BASE64.match(client_context):
            raise ValueError('"ClientContext" argument of Lambda.Client.invoke must be base64 encoded.')

        payload = kwargs.get('Payload', b'')
        invocation_type = kwargs.get('InvocationType', 'RequestResponse')
        customer_logger.debug('Invoking local lambda "%s" with payload "%s" and client context "%s"', function_arn,
                              payload, client_context)
        return self._invoke_internal(function_arn, payload, client_context, invocation_type)

    @mock
    def _invoke_internal(self, function_arn, payload, client_context, invocation_type='RequestResponse'):
        """Post the work and (RequestResponse) wait for its result; used by the other clients too."""
        try:
            invocation_id = self.ipc.post_work(function_arn, payload, client_context, invocation_type)
            if invocation_type == 'Event':
                return {'Payload': b'', 'FunctionError': ''}
            result = self.ipc.get_work_result(function_arn, invocation_id)
            if not result.func_err:
                output_payload = StreamingBody(result.payload)
            else:
                output_payload = result.payload
            return {'Payload': output_payload, 'FunctionError': result.func_err}
        except IPCException as e:
            customer_logger.exception(e)
            raise InvocationException('Failed to invoke function due to ' + str(e))


class StreamingBody(object):
    """File-like wrapper of a response payload (mirrors botocore's StreamingBody)."""

    def __init__(self, payload):
        if payload is None:
            payload = b''
        elif not isinstance(payload, bytes):
            payload = payload.encode('utf-8')
        self._raw_stream = BytesIO(payload)
        self._amount_read = 0

    def read(self, amt=None):
        """Read at most amt bytes; everything left when amt is omitted."""
        chunk = self._raw_stream.read(amt)
        self._amount_read += len(chunk)
        return chunk

    def close(self):
        self._raw_stream.close()
