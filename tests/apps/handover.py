"""For tests/systemd.rs and tests/upgrade.rs: what a worker of the master
that served the request sees.

/pid        the worker's pid
/ppid       its master's pid
/env?name=X the value of environment variable X in the worker, or "<unset>"
"""

import os
from urllib.parse import parse_qs


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/pid":
        body = str(os.getpid())
    elif path == "/ppid":
        body = str(os.getppid())
    elif path == "/env":
        name = parse_qs(environ.get("QUERY_STRING", "")).get("name", [""])[0]
        body = os.environ.get(name, "<unset>")
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
