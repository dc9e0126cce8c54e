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


class JsonFormatter(logging.Formatter):
    """A JSON-lines formatter, as Django and container deployments use;
    access records carry gunicorn's atoms as their args."""

    def format(self, record):
        import json

        out = {"logger": record.name, "level": record.levelname, "message": record.getMessage()}
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            out["status"] = record.args["s"]
            out["method"] = record.args["m"]
            out["agent"] = record.args["{User-Agent}i"]
            out["nothing"] = record.args["no-such-atom"]
        return json.dumps(out)
