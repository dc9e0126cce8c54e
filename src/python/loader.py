"""Application loading for gunicorn-rs, with gunicorn's URI rules.

``MODULE[:EXPR]`` where EXPR is a name (default ``application``) or a call
of a name with literal arguments (an application factory). Problems with
the URI itself raise AppImportError, which the worker reports with exit
status 4 ("App failed to load."); any other exception escapes as-is.
"""

import importlib
import keyword
import os
import sys


class AppImportError(Exception):
    pass


def setup_paths(chdir, pythonpath):
    """Put the app's directory, then --pythonpath entries, first on sys.path."""
    os.chdir(chdir)
    if chdir not in sys.path:
        sys.path.insert(0, chdir)
    for entry in pythonpath:
        entry = os.path.abspath(entry)
        if entry not in sys.path:
            sys.path.insert(0, entry)


def _parse_target(expr):
    """Return (name, args, kwargs); args is None for a bare name."""
    # A plain ASCII name, the usual case, is what ast would return for it;
    # ast (and the memory it takes in every worker) is needed for calls.
    if expr.isascii() and expr.isidentifier() and not keyword.iskeyword(expr):
        return expr, None, None
    import ast

    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        raise AppImportError(
            "Failed to parse %r as an attribute name or function call." % expr
        ) from None
    if isinstance(node, ast.Name):
        return node.id, None, None
    if not isinstance(node, ast.Call):
        raise AppImportError(
            "Failed to parse %r as an attribute name or function call." % expr
        )
    if not isinstance(node.func, ast.Name):
        raise AppImportError("Function reference must be a simple name: %r" % expr)
    try:
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
    except ValueError:
        raise AppImportError(
            "Failed to parse arguments as literal values: %r" % expr
        ) from None
    return node.func.id, args, kwargs


def _failed_at_call_site(func, tb):
    """True when a TypeError never entered ``func``: wrong arguments."""
    code = getattr(func, "__code__", None)
    while tb is not None:
        if tb.tb_frame.f_code is code:
            return False
        tb = tb.tb_next
    return True


def load(uri):
    module, sep, expr = uri.partition(":")
    if not sep:
        expr = "application"
    try:
        mod = importlib.import_module(module)
    except ImportError:
        if module.endswith(".py") and os.path.exists(module):
            raise ImportError(
                "Failed to find application, did you mean '%s:%s'?"
                % (module.rsplit(".", 1)[0], expr)
            ) from None
        raise

    name, args, kwargs = _parse_target(expr)
    try:
        app = getattr(mod, name)
    except AttributeError:
        raise AppImportError(
            "Failed to find attribute %r in %r." % (name, module)
        ) from None

    if args is not None:
        factory = app
        try:
            app = factory(*args, **kwargs)
        except TypeError as exc:
            if _failed_at_call_site(factory, exc.__traceback__):
                import traceback

                message = "".join(traceback.format_exception_only(TypeError, exc))
                raise AppImportError(message.strip()) from None
            raise

    if app is None:
        raise AppImportError("Failed to find application object: %r" % expr)
    if not callable(app):
        raise AppImportError("Application object must be callable.")
    return app
