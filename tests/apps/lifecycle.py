"""For the lifecycle tests (tests/lifecycle.rs): who served, and ways to
make a worker worth recycling.

/pid      the worker's pid
/version  the VERSION variable of this module as loaded, so a reload shows
          whether new code is being served (the test rewrites the file named
          by GRS_VERSION_FILE; "broken" makes the import fail)
/grow     keep N more MiB alive in this worker (?mb=N)
/slow     sleep ?ms=N milliseconds, then answer
"""

import atexit
import os
import time
from urllib.parse import parse_qs

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION_FILE = os.environ.get("GRS_VERSION_FILE")
VERSION = open(VERSION_FILE).read().strip() if VERSION_FILE else "none"
if VERSION == "broken":
    raise RuntimeError("this version cannot be imported")

HOARD = []

# GRS_EVENTS: a file where each worker appends "imported PID" once it has
# imported this module and "exit PID" as it exits, so a test can check that
# successors were up before their predecessors left. GRS_IMPORT_DELAY
# (seconds) makes the import slow, as a big application's is.
EVENTS = os.environ.get("GRS_EVENTS")
time.sleep(float(os.environ.get("GRS_IMPORT_DELAY", "0")))


def _event(what):
    with open(EVENTS, "a") as f:
        f.write("%s %d\n" % (what, os.getpid()))


if EVENTS:
    _event("imported")
    atexit.register(_event, "exit")


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
