"""gunicorn.socket: what the app can see of its connection's socket."""

import json
import socket


def app(environ, start_response):
    sock = environ["gunicorn.socket"]
    info = {
        "is_socket": isinstance(sock, socket.socket),
        "peer": list(sock.getpeername()),
        "local": list(sock.getsockname()),
        "remote_port": environ["REMOTE_PORT"],
    }
    if environ["QUERY_STRING"] == "close":
        # Closing the app's object must not close the server's connection.
        sock.close()
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
