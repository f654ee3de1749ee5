# Evergreen's implementation of the AWS IoT Greengrass Core SDK for Python
# (interface of greengrasssdk 1.6.1), used by functions that do not bundle the
# genuine package.  A bundled genuine copy wins because the function's code
# directory comes first on PYTHONPATH.
from .client import client
from .Lambda import StreamingBody

__version__ = '1.6.1'
INTERFACE_VERSION = '1.5'
