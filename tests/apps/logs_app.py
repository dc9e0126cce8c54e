"""An application that writes to its standard streams and to Python's
logging, for the logging tests."""

import logging
import sys


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/print":
        print("printed to stdout", flush=True)
        sys.stderr.write("written to stderr\n")
        sys.stderr.flush()
    elif path == "/app-log":
        logging.getLogger("myapp").warning("from the app's logger")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
