"""For tests/deploy_units.rs and tests/container.rs: the example systemd
units and Dockerfile run with this app in place of myapp's.

/pid            the worker's pid
/slow?mark=P&s=N  create the file P (the request is in flight), sleep N
                seconds, answer "slept"
/orphan         start a short-lived `sleep` whose parent exits at once, as a
                daemonizing helper does; answer the sleep's pid (as this
                process sees pids). The sleep is re-parented to the nearest
                reaper: PID 1 of the pid namespace.
"""

import os
import subprocess
import time
from urllib.parse import parse_qs


def app(environ, start_response):
    path = environ["PATH_INFO"]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/pid":
        body = str(os.getpid())
    elif path == "/slow":
        with open(query["mark"][0], "w"):
            pass
        time.sleep(float(query["s"][0]))
        body = "slept"
    elif path == "/orphan":
        # sh forks the sleep and exits; its stdio goes to /dev/null, so
        # reading sh's output ends when sh does, not when the sleep does.
        out = subprocess.run(
            ["/bin/sh", "-c", "sleep 2 </dev/null >/dev/null 2>&1 & echo $!"],
            check=True,
            capture_output=True,
            timeout=10,
        )
        body = out.stdout.decode().strip()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
