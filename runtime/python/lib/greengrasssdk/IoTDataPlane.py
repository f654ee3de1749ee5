# greengrasssdk.IoTDataPlane: local publish and classic shadow operations
# (reference section 3.2, section 3.3).
#
# publish(topic=..., payload=b'', queueFullPolicy='')
#   -> Event invocation of ROUTER_FUNCTION_ARN with client context
#      {"custom": {"source": MY_FUNCTION_ARN, "subject": topic, "queueFullPolicy": wire}}
#      where wire is '' | 'BestEffort' | 'AllOrError' (argument 'AllOrException').
#      Unless the policy is AllOrException, the request is written without waiting
#      for the core's 202 (IPCClient.post_work_nowait: the answer is read with the
#      next IPC answer, a refusal is logged); AllOrException, an empty topic, a
#      payload over ipc_client.NOWAIT_MAX_PAYLOAD or a replaced (mocked) _invoke_internal take
#      the synchronous path, which raises InvocationException on a refusal.
# get_thing_shadow / update_thing_shadow / delete_thing_shadow(thingName=..., [payload=...])
#   -> RequestResponse invocation of SHADOW_FUNCTION_ARN with subject
#      $aws/things/<thing>/shadow/<get|update|delete>; returns {'payload': bytes}.
#      Raises ShadowError when X-Amz-Function-Error is not '' (a missing header
#      counts as an error, like the genuine SDK) or when the answer is an error
#      document with "code" and "message".
import base64
import json
import logging

from greengrasssdk import Lambda
from greengrass_common.env_vars import MY_FUNCTION_ARN, ROUTER_FUNCTION_ARN, SHADOW_FUNCTION_ARN
from greengrass_ipc_python_sdk.ipc_client import IPCException, nowait_payload, remember

customer_logger = logging.getLogger(__name__)
customer_logger.propagate = True

# SDK argument -> value sent on the wire.
_QUEUE_FULL_POLICIES = {
    '': '',
    'BestEffort': 'BestEffort',
    'AllOrException': 'AllOrError',
}


# The genuine _invoke_internal: a test that replaces it must see every publish.
_INVOKE_INTERNAL = Lambda.Client.__dict__['_invoke_internal']

# Encoded publish client contexts by (topic, wire policy): a function publishes to a few topics
# over and over. Bounded; cleared when full.
MAX_CACHED_CONTEXTS = 256


class ShadowError(Exception):
    pass


def _encode_client_context(context):
    return base64.b64encode(json.dumps(context).encode())


class Client(object):
    def __init__(self):
        self.lambda_client = Lambda.Client()
        self._publish_contexts = {}

    def get_thing_shadow(self, **kwargs):
        """Current shadow of thingName; returns {'payload': bytes}."""
        thing_name = self._get_required_parameter('thingName', **kwargs)
        return self._shadow_op('get', thing_name, b'')

    def update_thing_shadow(self, **kwargs):
        """Update the shadow of thingName with payload (JSON); returns {'payload': bytes}."""
        thing_name = self._get_required_parameter('thingName', **kwargs)
        payload = self._get_required_parameter('payload', **kwargs)
        return self._shadow_op('update', thing_name, payload)

    def delete_thing_shadow(self, **kwargs):
        """Delete the shadow of thingName; returns {'payload': bytes}."""
        thing_name = self._get_required_parameter('thingName', **kwargs)
        return self._shadow_op('delete', thing_name, b'')

    def publish(self, **kwargs):
        """Publish payload on topic through the core's router; returns None."""
        topic = self._get_required_parameter('topic', **kwargs)
        payload = kwargs.get('payload', b'')
        policy = kwargs.get('queueFullPolicy', '')
        if policy is None:
            policy = ''
        if policy not in _QUEUE_FULL_POLICIES:
            raise ValueError('Parameter "queueFullPolicy" must be one of {}, got "{}"'.format(
                sorted(p for p in _QUEUE_FULL_POLICIES if p), policy))
        cacheable = isinstance(topic, str)
        encoded_context = self._publish_contexts.get((topic, policy)) if cacheable else None
        if encoded_context is None:
            encoded_context = _encode_client_context({
                'custom': {
                    'source': MY_FUNCTION_ARN,
                    'subject': topic,
                    'queueFullPolicy': _QUEUE_FULL_POLICIES[policy],
                }
            })
            if cacheable:
                remember(self._publish_contexts, (topic, policy), encoded_context, MAX_CACHED_CONTEXTS)
        customer_logger.debug('Publishing message on topic "%s" with Payload "%s"', topic, payload)
        lambda_client = self.lambda_client
        if (policy != 'AllOrException' and topic and MY_FUNCTION_ARN is not None
                and nowait_payload(payload)
                and getattr(type(lambda_client), '_invoke_internal', None) is _INVOKE_INTERNAL
                and '_invoke_internal' not in vars(lambda_client)):
            try:
                lambda_client.ipc.post_work_nowait(ROUTER_FUNCTION_ARN, payload, encoded_context,
                                                   'Event', 'publish to topic "{}"'.format(topic))
            except IPCException as e:
                customer_logger.exception(e)
                raise Lambda.InvocationException('Failed to invoke function due to ' + str(e))
            return
        lambda_client._invoke_internal(ROUTER_FUNCTION_ARN, payload, encoded_context, 'Event')

    @staticmethod
    def _get_required_parameter(parameter_name, **kwargs):
        if parameter_name not in kwargs:
            raise ValueError('Parameter "{}" is a required parameter but was not provided.'.format(parameter_name))
        return kwargs[parameter_name]

    def _shadow_op(self, op, thing_name, payload):
        topic = '$aws/things/{}/shadow/{}'.format(thing_name, op)
        client_context = {'custom': {'subject': topic}}
        customer_logger.debug('Calling shadow service on topic "%s" with payload "%s"', topic, payload)
        response = self.lambda_client._invoke_internal(SHADOW_FUNCTION_ARN, payload,
                                                       _encode_client_context(client_context))
        function_error = response['FunctionError']
        body = response['Payload']
        if hasattr(body, 'read'):
            body = body.read()
        if function_error != '':
            raise ShadowError('Request for shadow state failed with function error {!r}: {!r}'.format(
                function_error, body))
        if body:
            try:
                document = json.loads(body.decode('utf-8'))
            except ValueError:
                document = None
            if isinstance(document, dict) and 'code' in document and 'message' in document:
                raise ShadowError('Request for shadow state returned error code {} with message "{}"'.format(
                    document['code'], document['message']))
        return {'payload': body}
