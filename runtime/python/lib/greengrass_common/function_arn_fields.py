# Evergreen: parser for Lambda function ARNs as used by Greengrass v1.
#
# Interface (what the genuine greengrasssdk calls):
#   FunctionArnFields(arn_string)            -> raises ValueError if malformed
#   .partition .region .account_id .name .qualifier .unqualified_arn
#   .to_arn_string()
#   FunctionArnFields.build_function_arn(unqualified_arn, qualifier)  (GGC >= 1.9)
#   FunctionArnFields.build_arn_string(region, account_id, name, qualifier)  (deprecated)
#
# Accepted forms (reference section 1.7, section 4.1):
#   arn:aws:lambda:us-east-1:123456789012:function:Name[:qualifier]
#   arn:aws:lambda:::function:GGRouter                  (system ARNs: empty region/account)
#   arn:aws:lambda:us-east-1:aws:function:GG-ML-INF-... (literal "aws" account)
# The qualifier is a version number, an alias or $LATEST; absent -> ''.
import re

_ARN_REGEX = re.compile(
    r'^arn:(?P<partition>aws(?:-[a-z]+)*):lambda:(?P<region>[a-z0-9-]*):(?P<account_id>[0-9a-zA-Z]*)'
    r':function:(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$')

_MAX_ARN_LENGTH = 2048


class FunctionArnFields(object):
    """Fields of a (possibly qualified) Lambda function ARN."""

    __slots__ = ('partition', 'region', 'account_id', 'name', 'qualifier', 'unqualified_arn')

    def __init__(self, function_arn_string):
        if not isinstance(function_arn_string, str):
            try:
                function_arn_string = function_arn_string.decode('utf-8')
            except AttributeError:
                raise ValueError('Function ARN must be a string, got {}'.format(type(function_arn_string).__name__))
        if len(function_arn_string) > _MAX_ARN_LENGTH:
            raise ValueError('Function ARN is longer than {} characters'.format(_MAX_ARN_LENGTH))
        match = _ARN_REGEX.match(function_arn_string)
        if match is None:
            raise ValueError('Cannot parse given string as a function ARN: "{}"'.format(function_arn_string))
        self.partition = match.group('partition')
        self.region = match.group('region')
        self.account_id = match.group('account_id')
        self.name = match.group('name')
        self.qualifier = match.group('qualifier') or ''
        self.unqualified_arn = 'arn:{}:lambda:{}:{}:function:{}'.format(self.partition, self.region,
                                                                       self.account_id, self.name)

    def to_arn_string(self):
        return FunctionArnFields.build_function_arn(self.unqualified_arn, self.qualifier)

    @staticmethod
    def build_function_arn(unqualified_arn, qualifier=None):
        if qualifier:
            return '{}:{}'.format(unqualified_arn, qualifier)
        return unqualified_arn

    @staticmethod
    def build_arn_string(region, account_id, name, qualifier=None):
        """Deprecated: kept for SDKs older than GGC 1.9 (aws partition only)."""
        return FunctionArnFields.build_function_arn(
            'arn:aws:lambda:{}:{}:function:{}'.format(region, account_id, name), qualifier)

    def __repr__(self):
        return 'FunctionArnFields({!r})'.format(self.to_arn_string())

    def __eq__(self, other):
        return isinstance(other, FunctionArnFields) and self.to_arn_string() == other.to_arn_string()

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.to_arn_string())
