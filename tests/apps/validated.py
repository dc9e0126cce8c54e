"""Wraps another test app in wsgiref.validate.validator (PEP 3333 checks).

Started as 'validated:make("echo")' or 'validated:make("hello", "application")',
so every app in this folder also runs under the validator without a copy.
"""

import importlib
from wsgiref import validate

_strict_read = validate.InputWrapper.read


def _read(self, *args):
    # PEP 3333 (unlike PEP 333, which wsgiref.validate predates) says a
    # server should allow wsgi.input.read() with no argument, returning the
    # rest of the body; the apps here rely on that. Still check the type.
    if not args:
        v = self.input.read()
        validate.assert_(type(v) is bytes)
        return v
    return _strict_read(self, *args)


validate.InputWrapper.read = _read


def make(module, attr="app"):
    return validate.validator(getattr(importlib.import_module(module), attr))
