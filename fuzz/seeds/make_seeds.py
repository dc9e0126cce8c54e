#!/usr/bin/env python3
"""Write the seed inputs of the fuzz targets (run from the repo root).

Each seed is the target's config header (see docs/fuzzing.md) followed by
bytes from tests/data/http-corpus/valid (gunicorn's test requests, MIT:
see LICENSE-gunicorn there) or written here.
"""
import base64
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests/data/http-corpus/valid"
SEEDS = ROOT / "fuzz/seeds"

# request_head: [flags, request_line, fields, field_size, cut1, cut2]
TRUSTED = 0x80  # the corpus assumes a trusted peer
FLAGS = {
    "permit_obsolete_folding": 0x01,
    "strip_header_spaces": 0x02,
    "permit_unconventional_http_method": 0x04,
    "casefold_http_method": 0x10,
}
HEADS = [
    "001", "002", "003", "010", "012", "017", "025", "028", "031compat",
    "040_compat", "compat_obs_fold", "padding_01", "rfc9112_leading_crlf_01",
    "rfc9112_target_absolute_ipv6_01", "rfc9112_target_asterisk_options_01",
    "rfc9112_target_authority_connect_01", "rfc9110_field_value_obs_text_01",
]
# chunked_body: [flags, field_size, fields, cut1, cut2]
CHUNKED = [
    "010", "011", "012", "013", "025", "029", "rfc9112_chunked_ext_quoted_01",
    "rfc9112_chunked_size_leading_zeros_01", "rfc9112_chunked_size_uppercase_hex_01",
]
EXTRA_BODIES = {
    "trailers_folded": (b"\x01\x00\x00\x40\xc0",
                        b"3\r\nabc\r\n0\r\nX-A: 1\r\n  2\r\nX_B: 3\r\n\r\n"),
    "small_limits": (b"\x00\x10\x02\x80\x80",
                     b"a;x=1\r\n0123456789\r\n0\r\nA: b\r\nC: d\r\n\r\n"),
    "ext_spaces": (b"\x00\x00\x00\x20\xe0",
                   b"5 \t; name = \"q\\\"s\" ;n2\r\nhello\r\n000\r\n\r\nGET"),
    "round_trip": (b"\x80\x00\x00\x07\x07", b"payload framed by the target itself"),
}


PROXIED = ["pp_01", "pp_02", "pp_04", "pp_05"]
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(command, fam_proto, block):
    return V2_SIGNATURE + bytes([0x20 | command, fam_proto]) + len(block).to_bytes(2, "big") + block


V2_HEADERS = {
    "v2_local": v2(0, 0x00, b""),
    "v2_unspec": v2(1, 0x01, b""),
    "v2_ipv6_tlv": v2(1, 0x21, bytes(range(32)) + b"\x00\x01\x00\x02" + b"\x04\x00\x01\x00"),
}


def uwsgi(pairs, body=b""):
    """A uwsgi packet (modifier1 0) of `pairs`, then `body`."""
    block = b"".join(
        len(k).to_bytes(2, "little") + k + len(v).to_bytes(2, "little") + v for k, v in pairs
    )
    return b"\x00" + len(block).to_bytes(2, "little") + b"\x00" + block + body


# What nginx's uwsgi_params send, and a few pairs the parser refuses.
UWSGI_PACKETS = {
    "nginx_post": uwsgi([
        (b"QUERY_STRING", b"a=1"), (b"REQUEST_METHOD", b"POST"),
        (b"CONTENT_TYPE", b"text/plain"), (b"CONTENT_LENGTH", b"5"),
        (b"REQUEST_URI", b"/caf%C3%A9?a=1"), (b"PATH_INFO", "/café".encode()),
        (b"SERVER_PROTOCOL", b"HTTP/1.1"), (b"HTTPS", b"on"),
        (b"REMOTE_ADDR", b"203.0.113.9"), (b"REMOTE_PORT", b"51234"),
        (b"HTTP_HOST", b"example.org"), (b"HTTP_CONTENT_TYPE", b"text/plain"),
        (b"HTTP_EXPECT", b"100-continue"), (b"HTTP_X_TRACE", b"t"),
    ], b"hello"),
    "empty": uwsgi([]),
    "injection": uwsgi([(b"HTTP_X", b"a\r\nY: b")]),
    "bad_name": uwsgi([(b"HTTP_X:Y", b"1")]),
    "http_on_uwsgi": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
}


def raw(name):
    case = json.loads((CORPUS / f"{name}.json").read_text())
    return case, base64.b64decode(case["raw_b64"])


def write(target, name, data):
    path = SEEDS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main():
    for name in HEADS:
        case, data = raw(name)
        flags = TRUSTED
        for key, bit in FLAGS.items():
            if case["settings"].get(key):
                flags |= bit
        if case["settings"].get("header_map") == "dangerous":
            flags |= 0x40
        write("request_head", name, bytes([flags, 0, 0, 0, 0x55, 0xaa]) + data)
    # The same head under small limits, and unconventional ones allowed.
    _, data = raw("001")
    write("request_head", "001_small_limits", bytes([0x00, 40, 2, 32, 0x10, 0x90]) + data)
    write("request_head", "001_unlimited", bytes([0x7f, 255, 255, 255, 0x00, 0xff]) + data)

    for name in CHUNKED:
        _, data = raw(name)
        body = data[data.index(b"\r\n\r\n") + 4:]
        write("chunked_body", name, bytes([0, 0, 0, 0x55, 0xaa]) + body)
    for name, (header, body) in EXTRA_BODIES.items():
        write("chunked_body", name, header + body)

    # proxy_header: [mode] (3 = auto); the corpus's PROXY cases, then v2
    # headers of each kind and a plain request.
    for name in PROXIED:
        _, data = raw(name)
        write("proxy_header", name, bytes([3]) + data)
    for name, data in V2_HEADERS.items():
        write("proxy_header", name, bytes([3]) + data)
    write("proxy_header", "v1_unknown", b"\x01PROXY UNKNOWN\r\n")
    write("proxy_header", "plain_leading_crlf", b"\x03\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    # uwsgi_packet: no config bytes
    for name, data in UWSGI_PACKETS.items():
        write("uwsgi_packet", name, data)


if __name__ == "__main__":
    main()
