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
        # What the object says, and what the kernel says of the descriptor.
        "kind": [int(sock.family), int(sock.type), sock.proto],
        "kernel": [
            socket.AF_INET6 if ":" in sock.getsockname()[0] else socket.AF_INET,
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE),
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL),
        ],
    }
    if environ["QUERY_STRING"] == "close":
        # Closing the app's object must not close the server's connection.
        sock.close()
    body = json.dumps(info).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
