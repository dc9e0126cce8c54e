"""A plain WSGI application: `gunicorn-rs --chdir examples hello:app`."""

import json
import os


def app(environ, start_response):
    if environ["PATH_INFO"] == "/environ":
        body = json.dumps(
            {k: v for k, v in environ.items() if isinstance(v, str)}, indent=2, sort_keys=True
        ).encode()
        content_type = "application/json"
    else:
        body = b"Hello from gunicorn-rs, worker %d\n" % os.getpid()
        content_type = "text/plain"
    start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
