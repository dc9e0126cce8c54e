"""For the lifecycle tests (tests/lifecycle.rs): who served, and ways to
make a worker worth recycling.

/pid      the worker's pid
/version  the VERSION variable of this module as loaded, so a reload shows
          whether new code is being served (the test rewrites version.txt)
/grow     keep N more MiB alive in this worker (?mb=N)
/slow     sleep ?ms=N milliseconds, then answer
"""

import os
import time
from urllib.parse import parse_qs

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION_FILE = os.environ.get("GRS_VERSION_FILE")
VERSION = open(VERSION_FILE).read().strip() if VERSION_FILE else "none"

HOARD = []


def app(environ, start_response):
    path = environ["PATH_INFO"]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/pid":
        body = str(os.getpid())
    elif path == "/version":
        body = VERSION
    elif path == "/grow":
        mb = int(query.get("mb", ["1"])[0])
        # Touch every page so it counts in the resident set.
        HOARD.append(bytearray(b"x" * (mb << 20)))
        body = str(sum(len(b) for b in HOARD) >> 20)
    elif path == "/slow":
        time.sleep(int(query.get("ms", ["100"])[0]) / 1000)
        body = "slept"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
