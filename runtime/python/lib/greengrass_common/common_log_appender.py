# Evergreen: the log appender shared by the Python runtime and user code.
#
# The core gives every worker one inherited pipe per log level through the
# environment (_GG_LOG_FD_TRACE/DEBUG/INFO/WARN/ERROR/FATAL).  Each record is
# written as "<file>:<line>,<message>\n" to the pipe of its level; the core
# prefixes "[timestamp][LEVEL]-" when it appends the line to the function's
# user log.  Python WARNING/CRITICAL go to the WARN/FATAL pipes.  LOG_LEVEL
# (TRACE, DEBUG, INFO, WARN, ERROR, FATAL, NOTSET) filters client-side;
# anything else raises ValueError like the genuine appender.
#
# If the pipes are not configured (e.g. the runtime is started by hand) every
# level falls back to stderr (fd 2) instead of failing.
import errno
import logging
import os

LOCALWATCH_FORMAT = '%(filename)s:%(lineno)d,%(message)s\n'

_LOG_LEVEL_TO_PYTHON = {
    'TRACE': logging.NOTSET,
    'NOTSET': logging.NOTSET,
    'DEBUG': logging.DEBUG,
    'INFO': logging.INFO,
    'WARN': logging.WARNING,
    'WARNING': logging.WARNING,
    'ERROR': logging.ERROR,
    'FATAL': logging.CRITICAL,
    'CRITICAL': logging.CRITICAL,
}

# Greengrass level name -> environment variable holding its pipe fd.
LEVEL_FD_ENV = (
    ('TRACE', '_GG_LOG_FD_TRACE'),
    ('DEBUG', '_GG_LOG_FD_DEBUG'),
    ('INFO', '_GG_LOG_FD_INFO'),
    ('WARN', '_GG_LOG_FD_WARN'),
    ('ERROR', '_GG_LOG_FD_ERROR'),
    ('FATAL', '_GG_LOG_FD_FATAL'),
)

_STDERR_FD = 2


def min_log_level(value=None):
    """Python logging level for a Greengrass LOG_LEVEL string (default: env)."""
    if value is None:
        value = os.getenv('LOG_LEVEL', 'NOTSET') or 'NOTSET'
    try:
        return _LOG_LEVEL_TO_PYTHON[value.upper()]
    except KeyError:
        raise ValueError('LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, NOTSET; got "{}"'
                         .format(value))


def level_fds_from_env(environ=None):
    """{'TRACE': fd, ...} for the _GG_LOG_FD_* variables present; bad values raise ValueError."""
    environ = os.environ if environ is None else environ
    fds = {}
    for level, var in LEVEL_FD_ENV:
        raw = environ.get(var)
        if raw is None or raw == '':
            continue
        try:
            fds[level] = int(raw)
        except ValueError:
            raise ValueError('{} must be an integer file descriptor, got "{}"'.format(var, raw))
    return fds


class LocalwatchLogHandler(logging.Handler):
    """logging.Handler writing each record to the pipe fd of its level."""

    def __init__(self, level_fds=None, level=None):
        logging.Handler.__init__(self, level=min_log_level() if level is None else level)
        if level_fds is None:
            level_fds = level_fds_from_env()
        default_fd = level_fds.get('INFO', _STDERR_FD)
        debug_fd = level_fds.get('DEBUG', default_fd)
        # Indexed by Python level bands; see _fd_for().
        self._trace_fd = level_fds.get('TRACE', debug_fd)
        self._debug_fd = debug_fd
        self._info_fd = default_fd
        self._warn_fd = level_fds.get('WARN', default_fd)
        self._error_fd = level_fds.get('ERROR', level_fds.get('WARN', default_fd))
        self._fatal_fd = level_fds.get('FATAL', self._error_fd)
        self.min_log_level = self.level
        self.setFormatter(logging.Formatter(LOCALWATCH_FORMAT))

    def _fd_for(self, levelno):
        if levelno >= logging.CRITICAL:
            return self._fatal_fd
        if levelno >= logging.ERROR:
            return self._error_fd
        if levelno >= logging.WARNING:
            return self._warn_fd
        if levelno >= logging.INFO:
            return self._info_fd
        if levelno >= logging.DEBUG:
            return self._debug_fd
        return self._trace_fd

    def emit(self, record):
        try:
            data = self.format(record)
            if not isinstance(data, bytes):
                data = data.encode('utf-8', 'replace')
            fd = self._fd_for(record.levelno)
            view = memoryview(data)
            while view:
                try:
                    written = os.write(fd, view)
                except OSError as e:
                    if e.errno == errno.EINTR:
                        continue
                    raise
                view = view[written:]
        except (OSError, IOError):
            # The core went away or closed the pipe: never break user code over a log line.
            pass
        except Exception:
            self.handleError(record)

    def flush(self):
        pass


def install_root_handler(level_fds=None, log_level=None):
    """Point the root logger at the per-level pipes; returns the handler.

    Replaces handlers previously installed by this function (idempotent) and
    sets the root level to LOG_LEVEL so logging.getLogger(__name__).info()
    works in user code without further configuration.
    """
    level = min_log_level(log_level)
    handler = LocalwatchLogHandler(level_fds=level_fds, level=level)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, LocalwatchLogHandler):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
