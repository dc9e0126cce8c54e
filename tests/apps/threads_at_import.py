"""Starts busy threads at import: a preloaded master forks while they run."""

import logging
import threading
import time

log = logging.getLogger("bg")
log.addHandler(logging.NullHandler())


def _logger():
    while True:
        log.warning("tick")
        time.sleep(0.001)


def _spinner():
    x = 0
    while True:
        x += 1


threading.Thread(target=_logger, daemon=True).start()
threading.Thread(target=_spinner, daemon=True).start()


def app(environ, start_response):
    t = threading.Thread(target=lambda: None)
    t.start()
    t.join()
    body = ("threads=%d" % threading.active_count()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
