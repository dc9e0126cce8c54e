"""Regenerate the differential cases: random mutations of a few requests,
each replayed through gunicorn's own parser (RequestParser, no peer address,
i.e. a trusted peer), whole and one byte at a time.

    PROFILE=default python gen_cases.py COUNT SEED OUT.jsonl

Needs gunicorn 27.0.1 importable. Profiles must match PROFILES in
src/http/diff_tests.rs.
"""
import base64
import json
import os
import random
import sys

from gunicorn.config import Config
from gunicorn.http.parser import RequestParser

PROFILE = os.environ.get("PROFILE", "default")


def make_cfg():
    cfg = Config()
    if PROFILE == "small":
        cfg.set("limit_request_line", 30)
        cfg.set("limit_request_fields", 3)
        cfg.set("limit_request_field_size", 20)
    elif PROFILE == "lax":
        for key in ("permit_obsolete_folding", "strip_header_spaces", "permit_unconventional_http_method",
                    "permit_unconventional_http_version", "casefold_http_method"):
            cfg.set(key, True)
        cfg.set("header_map", "dangerous")
    elif PROFILE == "refuse":
        cfg.set("header_map", "refuse")
        cfg.set("forwarder_headers", "X_Y")
    return cfg


def run(data, split):
    """Every request gunicorn reads from `data`, then how it stopped."""
    chunks = [data[i:i + split] for i in range(0, len(data), split)] if split else [data]
    out = []
    try:
        for req in RequestParser(make_cfg(), iter(chunks), None):
            body = req.body.read()
            out.append(["ok", req.method, req.uri, req.path, req.query, req.fragment, list(req.version),
                        [list(h) for h in req.headers], base64.b64encode(body).decode(),
                        [list(t) for t in (req.trailers or [])], not req.should_close()])
    except StopIteration:
        pass
    except Exception as e:  # noqa: BLE001 - the class name is the result
        out.append(["err", type(e).__name__])
    return out


SEEDS = [
    b"GET /a?b#c HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.0\r\n\r\n",
    b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
    b"\r\nPUT http://[::1]:80/x?y HTTP/1.0\r\nConnection: keep-alive\r\nX_Y: z\r\nContent-Length: 2\r\n\r\nab",
    b"OPTIONS * HTTP/1.1\r\nExpect: 100-continue\r\nA: b\r\n\r\n",
    b"CONNECT h:1 HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Type: a\r\nHost: h\r\nConnection: close\r\n\r\n",
]
BYTES = b"\r\n :;/?#*_-AaZz09\t\x00\x7f\xff[]%\",=HTTP/1.chunked"
PIECES = [b"\r\n", b"chunked", b" ", b"Transfer-Encoding: chunked\r\n", b"Content-Length: 3\r\n", b";", b"\r\n ",
          b"Expect: 100-continue\r\n", b"HTTP/1.0", b"Connection: keep-alive\r\n", b"0\r\n\r\n", b"\x80",
          b"Host: y\r\n", b"5\r\nhello\r\n", b"identity,", b"//", b"://", b"Trailer: x\r\n"]


def mutate(rng):
    data = bytearray(rng.choice(SEEDS))
    for _ in range(rng.randrange(8)):
        at = rng.randrange(len(data) + 1)
        op = rng.randrange(4)
        if op == 0:
            data[at:at] = bytes([rng.choice(BYTES)])
        elif op == 1 and at < len(data):
            del data[at]
        elif op == 2 and at < len(data):
            data[at] = rng.randrange(256)
        elif op == 3:
            data[at:at] = rng.choice(PIECES)
    return bytes(data)


def main():
    count, seed, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(count):
            data = mutate(rng)
            case = {"raw": base64.b64encode(data).decode(), "whole": run(data, 0), "byte": run(data, 1)}
            f.write(json.dumps(case) + "\n")


if __name__ == "__main__":
    main()
