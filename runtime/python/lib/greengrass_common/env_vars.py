# Evergreen: environment the core hands to every Python function worker.
#
# Names are an interface: the genuine greengrasssdk imports them
# (AUTH_TOKEN, MY_FUNCTION_ARN, SHADOW_FUNCTION_ARN, ROUTER_FUNCTION_ARN,
# SECRETS_MANAGER_FUNCTION_ARN) and the genuine runtime-side IPC client reads
# GG_DAEMON_PORT.  Values are read once, at import time, exactly like the
# genuine module.
import os

AUTH_TOKEN = os.getenv('AWS_CONTAINER_AUTHORIZATION_TOKEN')
MY_FUNCTION_ARN = os.getenv('MY_FUNCTION_ARN')
SHADOW_FUNCTION_ARN = os.getenv('SHADOW_FUNCTION_ARN')
ROUTER_FUNCTION_ARN = os.getenv('ROUTER_FUNCTION_ARN')
SECRETS_MANAGER_FUNCTION_ARN = os.getenv('SECRETS_MANAGER_FUNCTION_ARN')
ENCODING_TYPE = os.getenv('ENCODING_TYPE')
GGC_MAX_INTERFACE_VERSION = os.getenv('GGC_MAX_INTERFACE_VERSION')
# The genuine client does int(GG_DAEMON_PORT); 8000 is the documented default.
GG_DAEMON_PORT = os.getenv('GG_DAEMON_PORT', '8000')
LOG_LEVEL = os.getenv('LOG_LEVEL', 'NOTSET')
AWS_REGION = os.getenv('AWS_REGION')
AWS_IOT_THING_NAME = os.getenv('AWS_IOT_THING_NAME')

# Evergreen extras (not read by any genuine SDK).
FUNCTION_TIMEOUT_MS = os.getenv('EVERGREEN_FUNCTION_TIMEOUT_MS')
MEMORY_LIMIT_MB = os.getenv('EVERGREEN_MEMORY_LIMIT_MB')

# Well-known values of the system function ARNs (reference section 1.7), for code
# that wants a fallback when the variables are absent.
DEFAULT_ROUTER_FUNCTION_ARN = 'arn:aws:lambda:::function:GGRouter'
DEFAULT_SHADOW_FUNCTION_ARN = 'arn:aws:lambda:::function:GGShadowService'
DEFAULT_SECRETS_MANAGER_FUNCTION_ARN = 'arn:aws:lambda:::function:GGSecretManager:1'
