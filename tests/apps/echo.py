"""Returns the environ (str, bool, int and tuple values) and the body as JSON."""

import json


def app(environ, start_response):
    body = environ["wsgi.input"].read()
    data = {}
    for key, value in environ.items():
        if isinstance(value, (str, bool, int)):
            data[key] = value
        elif isinstance(value, tuple):
            data[key] = list(value)
    data["body"] = body.decode("latin-1")
    data["has_errors_stream"] = hasattr(environ["wsgi.errors"], "write")
    data["file_wrapper_name"] = getattr(environ["wsgi.file_wrapper"], "__name__", "")
    out = json.dumps(data, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
