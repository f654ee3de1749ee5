"""Echo function: returns the event and what the context says about itself."""
import logging
import sys

logger = logging.getLogger(__name__)
print('echo module loaded')


def handler(event, context):
    cc = context.client_context
    return {
        'event': event,
        'request_id': context.aws_request_id,
        'arn': context.invoked_function_arn,
        'name': context.function_name,
        'version': context.function_version,
        'identity': context.identity,
        'memory': context.memory_limit_in_mb,
        'remaining': context.get_remaining_time_in_millis(),
        'custom': cc.custom if cc is not None else None,
        'client': list(cc.client) if cc is not None and cc.client is not None else None,
        'has_cc': cc is not None,
    }


def subject(event, context):
    return context.client_context.custom['subject']


def fail(event, context):
    raise KeyError('no such thing')


def unserialisable(event, context):
    return object()


def log_all(event, context):
    logger.debug('debug line')
    logger.info('info line')
    logger.warning('warn line')
    logger.error('error line')
    logger.critical('fatal line')
    print('stdout line')
    sys.stderr.write('stderr line\n')
    return 'ok'


not_callable = 42
