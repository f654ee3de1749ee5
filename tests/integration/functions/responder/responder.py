# Returns what the invocation looked like from inside: event, client context, qualifier, code dir.
import os


def handler(event, context):
    cc = context.client_context
    return {
        'event': event,
        'custom': cc.custom if cc is not None else None,
        'function_version': context.function_version,
        'invoked_function_arn': context.invoked_function_arn,
        'code_dir': os.path.basename(os.getcwd()),
        'pid': os.getpid(),
    }
