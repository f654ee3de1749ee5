# greengrasssdk.client(<service>): factory with the genuine names.


def client(client_type, *args, **kwargs):
    """Return a client for 'lambda', 'iot-data' or 'secretsmanager'."""
    if client_type == 'lambda':
        from .Lambda import Client
    elif client_type == 'iot-data':
        from .IoTDataPlane import Client
    elif client_type == 'secretsmanager':
        from .SecretsManager import Client
    elif client_type == 'streammanager':
        # Stream Manager is a separate TCP protocol (reference section 6) that this
        # SDK implementation does not provide; bundle the genuine SDK to use it.
        raise Exception('Client type streammanager is not supported by the Evergreen greengrasssdk; '
                        'bundle the genuine greengrasssdk (or stream_manager SDK) with the function.')
    else:
        raise Exception('Client type {} is not recognized.'.format(client_type))
    return Client(*args, **kwargs)
