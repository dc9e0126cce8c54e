"""Config files for gunicorn-rs: running one, and reading the values of its
names the way gunicorn's validators read them.

Each ``to_*`` function takes what a config file bound to a setting's name
and returns the text (or list of texts, or bool) the server's own
validators take, or None when the value means "leave the default". It
raises with gunicorn's message when gunicorn would refuse the value.
"""

import importlib
import importlib.machinery
import importlib.util
import os
import sys
import types


def run_file(filename):
    """Execute FILENAME as the module ``__config__``; return its names."""
    name = "__config__"
    if os.path.splitext(filename)[1] in (".py", ".pyc"):
        spec = importlib.util.spec_from_file_location(name, filename)
    else:
        # Any other extension still runs as Python source (with a warning
        # printed by the caller), as gunicorn does.
        loader = importlib.machinery.SourceFileLoader(name, filename)
        spec = importlib.util.spec_from_file_location(name, filename, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return dict(vars(module))


def import_module(name, cwd):
    """The names of the module NAME (``python:NAME``), imported as usual,
    with the working directory CWD first on the path."""
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    return dict(vars(importlib.import_module(name)))


def to_int(value):
    # Booleans are ints too; a string may be written in any base.
    if isinstance(value, int):
        return str(int(value))
    return str(int(value, 0))


def to_bool(value):
    if value is None or isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise TypeError("Invalid type for casting: %s" % value)
    word = value.lower().strip()
    if word in ("true", "false"):
        return word == "true"
    raise ValueError("Invalid boolean: %s" % value)


def to_str(value):
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("Not a string: %s" % value)
    return value.strip()


def to_id(value):
    """A user or group: a number, or a name kept exactly as written."""
    if value is None:
        return None
    if isinstance(value, int):
        # int(): a bool is the id 0 or 1, as gunicorn takes it.
        return str(int(value))
    if not isinstance(value, str):
        raise AttributeError("'%s' object has no attribute 'isdigit'" % type(value).__name__)
    return value


def to_list(value):
    # A single string stands for a list of one (the older spelling).
    if not value:
        return []
    if isinstance(value, str):
        value = [value]
    items = [to_str(item) for item in value]
    if None in items:
        raise TypeError("Not a string: None")
    return items


def to_proxy_protocol(value):
    if value is None:
        return "off"
    if isinstance(value, bool):
        return "auto" if value else "off"
    if not isinstance(value, str):
        raise TypeError("proxy_protocol must be string or bool")
    return value


def to_dict(value):
    if not isinstance(value, dict):
        raise TypeError("Value is not a dictionary: %s " % value)
    return value


# How many positional parameters each hook is called with; post_request
# may take 2, 3 or 4.
ARITY = {
    "on_starting": 1, "on_reload": 1, "when_ready": 1, "pre_fork": 2,
    "post_fork": 2, "post_worker_init": 1, "worker_int": 1,
    "worker_abort": 1, "pre_exec": 1, "pre_request": 2,
    "post_request": (2, 3, 4), "child_exit": 2, "worker_exit": 2,
    "nworkers_changed": 3, "on_exit": 1, "ssl_context": 2,
    "on_dirty_starting": 1, "dirty_post_fork": 2, "dirty_worker_init": 1,
    "dirty_worker_exit": 2,
}


def arity(function):
    """The number of positional parameters of FUNCTION (defaults count)."""
    # A plain function without attributes of its own (no __wrapped__ or
    # __signature__ that inspect would follow): the count inspect gives.
    if type(function) is types.FunctionType and not function.__dict__:
        return function.__code__.co_argcount
    # Imported here: inspect pulls in ast, dis and tokenize (about 1.8 MiB
    # in every process, the workers' included).
    import inspect

    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in inspect.signature(function).parameters.values() if p.kind in kinds)


def to_hook(name, value):
    """A callable, or the dotted path of one to import, taking as many
    positional parameters as the hook NAME is called with."""
    if isinstance(value, str):
        try:
            module_name, attr = value.rsplit(".", 1)
        except ValueError:
            raise TypeError(
                "Value '%s' is not import string. "
                "Format: module[.submodules...].object" % value
            ) from None
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise TypeError(str(e)) from None
        try:
            value = getattr(module, attr)
        except AttributeError:
            raise TypeError("Can not load '%s' from '%s'" % (attr, module_name)) from None
    if not callable(value):
        raise TypeError("Value is not callable: %s" % value)
    wanted = ARITY.get(name, ())
    if isinstance(wanted, int):
        if arity(value) != wanted:
            raise TypeError("Value must have an arity of: %s" % wanted)
    elif arity(value) not in wanted:
        raise TypeError("Value must have an arity of: %s" % max(wanted))
    return value


def shown(value):
    """How gunicorn shows a refused value: ``str(value)``."""
    try:
        return str(value)
    except Exception:
        return object.__repr__(value)


def qualname(value):
    return getattr(value, "__qualname__", type(value).__qualname__)
