import greengrasssdk
from greengrass_ipc_python_sdk import ipc_client


def handler(event, context):
    return {'sdk_bundled': getattr(greengrasssdk, 'BUNDLED', False),
            'ipc_stale': getattr(ipc_client, 'STALE', False),
            'ipc_has_client': hasattr(ipc_client, 'IPCClient')}
