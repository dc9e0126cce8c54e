"""gunicorn-rs: the `gunicorn.error` and `gunicorn.access` loggers under a
user's Python logging configuration (--log-config, --log-config-json,
logconfig_dict), set up as gunicorn 27's glogging.Logger.setup does, and
the access record built as gunicorn builds it (its atoms, wrapped so that
brace keys are case-insensitive and unknown keys give '-').
"""

import base64
import binascii
import copy
import json
import logging
import logging.config
import os
import sys
import time

# gunicorn's CONFIG_DEFAULTS: the base a user's dict config is merged into.
DEFAULTS = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {
            "level": "INFO",
            "handlers": ["error_console"],
            "propagate": True,
            "qualname": "gunicorn.error",
        },
        "gunicorn.access": {
            "level": "INFO",
            "handlers": ["console"],
            "propagate": True,
            "qualname": "gunicorn.access",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "stream": "ext://sys.stdout",
        },
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "stream": "ext://sys.stderr",
        },
    },
    "formatters": {
        "generic": {
            "format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
            "datefmt": "[%Y-%m-%d %H:%M:%S %z]",
            "class": "logging.Formatter",
        }
    },
}

ERROR_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"
DATE_FORMAT = "[%Y-%m-%d %H:%M:%S %z]"

error_log = logging.getLogger("gunicorn.error")
access_log = logging.getLogger("gunicorn.access")


def _handler(output, formatter, stream):
    if output == "-":
        handler = logging.StreamHandler(stream)
    else:
        handler = logging.FileHandler(output)
    handler.setFormatter(formatter)
    handler._gunicorn = True
    return handler


def _base(errorlog, accesslog, loglevel):
    """The loggers as gunicorn sets them up before applying a config."""
    for log in (error_log, access_log):
        log.propagate = False
        for handler in list(log.handlers):
            if getattr(handler, "_gunicorn", False):
                log.removeHandler(handler)
    error_log.setLevel(loglevel)
    access_log.setLevel(logging.INFO)
    error_log.addHandler(
        _handler(errorlog, logging.Formatter(ERROR_FORMAT, DATE_FORMAT), sys.stderr))
    if accesslog is not None:
        access_log.addHandler(
            _handler(accesslog, logging.Formatter("%(message)s"), sys.stdout))


def configure_dict(config, errorlog, accesslog, loglevel):
    """logconfig_dict, and --log-config-json once read."""
    _base(errorlog, accesslog, loglevel)
    merged = copy.copy(DEFAULTS)
    merged.update(config)
    try:
        logging.config.dictConfig(merged)
    except (AttributeError, ImportError, ValueError, TypeError) as exc:
        raise RuntimeError(str(exc)) from exc


def configure_json(path, errorlog, accesslog, loglevel):
    """--log-config-json: a missing file is skipped, as gunicorn does."""
    if not os.path.exists(path):
        _base(errorlog, accesslog, loglevel)
        return
    try:
        with open(path) as f:
            config = json.load(f)
    except json.JSONDecodeError as exc:
        raise RuntimeError(str(exc)) from exc
    configure_dict(config, errorlog, accesslog, loglevel)


def configure_file(path, errorlog, accesslog, loglevel):
    """--log-config: logging.config.fileConfig with gunicorn's defaults."""
    _base(errorlog, accesslog, loglevel)
    if not os.path.exists(path):
        raise RuntimeError("Error: log config '%s' not found" % path)
    defaults = copy.copy(DEFAULTS)
    defaults["__file__"] = path
    defaults["here"] = os.path.dirname(path)
    logging.config.fileConfig(path, defaults=defaults, disable_existing_loggers=False)


def reopen():
    """USR1: reopen every FileHandler, as gunicorn's reopen_files."""
    for log in [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]:
        for handler in log.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.acquire()
                try:
                    if handler.stream:
                        handler.close()
                        handler.stream = handler._open()
                finally:
                    handler.release()


def error(level, message):
    error_log.log(level, message)


class Atoms(dict):
    """gunicorn's SafeAtoms: '"' escaped in strings, brace keys looked up
    lower-cased, '-' for anything missing."""

    def __init__(self, atoms):
        dict.__init__(self)
        for key, value in atoms.items():
            if isinstance(value, str):
                self[key] = value.replace('"', '\\"')
            else:
                self[key] = value

    def __getitem__(self, k):
        if k.startswith("{"):
            k = k.lower()
        if k in self:
            return super().__getitem__(k)
        return "-"


def _user(auth):
    if auth and auth.lower().startswith("basic"):
        parts = auth.split(" ", 1)
        if len(parts) == 2:
            try:
                raw = base64.b64decode(parts[1].strip().encode("utf-8"))
                return raw.split(b":", 1)[0].decode("UTF-8")
            except (TypeError, binascii.Error, UnicodeDecodeError) as exc:
                error_log.debug("Couldn't get username: %s", exc)
    return None


def access(fmt, environ, status, req_headers, resp_headers, sent, seconds, micros):
    """One access record: `gunicorn.access`.info(fmt, atoms)."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    atoms = {
        "h": environ.get("REMOTE_ADDR", "-"),
        "l": "-",
        "u": _user(environ.get("HTTP_AUTHORIZATION")) or "-",
        "t": time.strftime("[%d/%b/%Y:%H:%M:%S %z]"),
        "r": "%s %s %s" % (environ["REQUEST_METHOD"], environ["RAW_URI"],
                           environ["SERVER_PROTOCOL"]),
        "s": status,
        "m": environ.get("REQUEST_METHOD"),
        "U": environ.get("PATH_INFO"),
        "q": environ.get("QUERY_STRING"),
        "H": environ.get("SERVER_PROTOCOL"),
        "b": str(sent),
        "B": sent,
        "f": environ.get("HTTP_REFERER", "-"),
        "a": environ.get("HTTP_USER_AGENT", "-"),
        "T": seconds,
        "D": seconds * 1000000 + micros,
        "M": seconds * 1000 + micros // 1000,
        "L": "%d.%06d" % (seconds, micros),
        "p": "<%s>" % os.getpid(),
    }
    atoms.update({"{%s}i" % k.lower(): v for k, v in req_headers})
    atoms.update({"{%s}o" % k.lower(): v for k, v in resp_headers})
    atoms.update({"{%s}e" % str(k).lower(): v for k, v in environ.items()})
    try:
        access_log.info(fmt, Atoms(atoms))
    except Exception:
        import traceback
        error_log.error(traceback.format_exc())
