# greengrasssdk.SecretsManager: local secrets (reference section 3.4).
#
# get_secret_value(SecretId=..., [VersionStage=...])  (VersionId is refused client-side)
#   -> RequestResponse invocation of SECRETS_MANAGER_FUNCTION_ARN with an empty
#      client context and body {"SecretId": ..., ["VersionStage": ...]}.
#   Success: dict with ARN, Name, VersionId, SecretString|SecretBinary,
#   VersionStages and CreatedDate converted from epoch milliseconds to datetime.
#   Error document {"Status": n, "Message": "..."} -> SecretsManagerError.
import json
import logging
from datetime import datetime
from decimal import Decimal

from greengrasssdk import Lambda
from greengrass_common.env_vars import SECRETS_MANAGER_FUNCTION_ARN

customer_logger = logging.getLogger(__name__)
customer_logger.propagate = True

KEY_NAME_PAYLOAD = 'Payload'
KEY_NAME_STATUS = 'Status'
KEY_NAME_MESSAGE = 'Message'
KEY_NAME_SECRET_ID = 'SecretId'
KEY_NAME_VERSION_ID = 'VersionId'
KEY_NAME_VERSION_STAGE = 'VersionStage'
KEY_NAME_CREATED_DATE = 'CreatedDate'


class SecretsManagerError(Exception):
    pass


class Client(object):
    def __init__(self):
        self.lambda_client = Lambda.Client()

    def get_secret_value(self, **kwargs):
        secret_id = self._get_required_parameter(KEY_NAME_SECRET_ID, **kwargs)
        version_id = kwargs.get(KEY_NAME_VERSION_ID, '')
        version_stage = kwargs.get(KEY_NAME_VERSION_STAGE, '')
        if version_id:
            raise SecretsManagerError('Query by VersionId is not yet supported')

        request = {KEY_NAME_SECRET_ID: secret_id}
        if version_stage:
            request[KEY_NAME_VERSION_STAGE] = version_stage
        customer_logger.debug('Retrieving secret value with id "%s", version stage "%s"', secret_id, version_stage)
        response = self.lambda_client._invoke_internal(SECRETS_MANAGER_FUNCTION_ARN,
                                                       json.dumps(request).encode(), b'')
        body = response[KEY_NAME_PAYLOAD]
        if hasattr(body, 'read'):
            body = body.read()
        if response.get('FunctionError'):
            raise SecretsManagerError('Request for secret value failed with function error {!r}: {!r}'.format(
                response['FunctionError'], body))
        try:
            payload = json.loads(body.decode('utf-8'))
        except ValueError:
            raise SecretsManagerError('Secrets manager returned a response that is not JSON: {!r}'.format(body[:256]))
        if not isinstance(payload, dict):
            raise SecretsManagerError('Secrets manager returned a response that is not a JSON object')
        if KEY_NAME_STATUS in payload and KEY_NAME_MESSAGE in payload:
            raise SecretsManagerError('Request for secret value returned error code {} with message {}'.format(
                payload[KEY_NAME_STATUS], payload[KEY_NAME_MESSAGE]))
        try:
            # The core sends CreatedDate as epoch milliseconds.
            # (Decimal keeps the division exact; fromtimestamp() wants a float on Python >= 3.10.)
            payload[KEY_NAME_CREATED_DATE] = datetime.fromtimestamp(
                float(Decimal(payload[KEY_NAME_CREATED_DATE]) / Decimal(1000)))
        except (KeyError, TypeError, ArithmeticError, ValueError):
            raise SecretsManagerError('Secrets manager response has no valid CreatedDate: {!r}'.format(
                payload.get(KEY_NAME_CREATED_DATE)))
        return payload

    @staticmethod
    def _get_required_parameter(parameter_name, **kwargs):
        if parameter_name not in kwargs:
            raise ValueError('Parameter "{}" is a required parameter but was not provided.'.format(parameter_name))
        return kwargs[parameter_name]
