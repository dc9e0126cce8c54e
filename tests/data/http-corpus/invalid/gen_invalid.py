"""Regenerate the invalid-request cases (NAME.json here) from gunicorn's
own fixtures, and optionally check each against a live gunicorn.

    python gen_invalid.py SDIST_TESTS_DIR            # write NAME.json
    python gen_invalid.py SDIST_TESTS_DIR --live GUNICORN_BIN

SDIST_TESTS_DIR is `tests/requests/invalid` of the unpacked gunicorn 27.0.1
sdist. Only gunicorn's data is read: each `.py` sidecar is scanned as text
for its exception class and `cfg.set(...)` calls, never executed.

`--live` starts GUNICORN_BIN (gthread worker, the case's settings as
command-line flags, echo app from tests/apps) on 127.0.0.1 and checks that
it answers each case with `expect_status` (nothing for NoMoreData) and then
closes the connection. 127.0.0.1 is in gunicorn's default
forwarded_allow_ips and proxy_allow_ips, so it is trusted like the
peer-less parser of gunicorn's own tests.
"""
import ast
import base64
import json
import os
import re
import socket
import subprocess
import sys
import time

# What gunicorn's Worker.handle_error answers per exception class
# (docs: gunicorn-reference section 12). NoMoreData: no answer at all.
STATUS = {
    "NoMoreData": None,
    "LimitRequestLine": 414,
    "LimitRequestHeaders": 431,
    "ExpectationFailed": 417,
    "UnsupportedTransferCoding": 501,
    "ForbiddenProxyRequest": 403,
}
DEFAULT_STATUS = 400
# gthread keeps connections alive like gunicorn-rs; GEN_WORKER="" for a
# server without -k.
WORKER = os.environ.get("GEN_WORKER", "-k gthread").split()

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "..", "..", "..", "apps")


def decode_fixture(data):
    """gunicorn's test loader (tests/treq.py), re-expressed."""
    data = data.replace(b"\n", b"").replace(b"\\r\\n", b"\r\n")
    data = data.replace(b"\\0", b"\0").replace(b"\\n", b"\n").replace(b"\\t", b"\t")
    out = bytearray()
    i = 0
    while i < len(data):
        # \xHH only when at least one byte follows it, as gunicorn's loader does.
        if i + 3 < len(data) and data[i:i + 2] == b"\\x":
            try:
                out.append(int(data[i + 2:i + 4], 16))
                i += 4
                continue
            except ValueError:
                pass
        out.append(data[i])
        i += 1
    if b"\\" in out:
        raise ValueError("unexpected backslash left in fixture")
    return bytes(out)


def read_sidecar(path):
    """(exception class, settings) from a fixture's .py, read as text."""
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^request\s*=\s*(\w+)", text, re.M)
    if not m:
        raise ValueError(f"{path}: no `request = ...`")
    settings = {}
    for key, value in re.findall(r"cfg\.set\(\s*(['\"]\w+['\"])\s*,\s*([^)]+?)\s*\)", text):
        settings[ast.literal_eval(key)] = ast.literal_eval(value)
    return m.group(1), settings


def load(src):
    cases = []
    for fname in sorted(os.listdir(src)):
        if not fname.endswith(".http"):
            continue
        name = fname[:-5]
        raw = decode_fixture(open(os.path.join(src, fname), "rb").read())
        error, settings = read_sidecar(os.path.join(src, name + ".py"))
        cases.append({
            "name": name,
            "raw_b64": base64.b64encode(raw).decode(),
            "settings": settings,
            "expect_error": error,
            "expect_status": STATUS.get(error, DEFAULT_STATUS),
            "source": f"gunicorn 27.0.1 tests/requests/invalid/{name}.http (+ {name}.py)",
        })
    return cases


def write(cases):
    for case in cases:
        with open(os.path.join(HERE, case["name"] + ".json"), "w") as f:
            f.write("{\n")
            f.write(",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in case.items()))
            f.write("\n}\n")


def flags(settings):
    out = []
    for key, value in sorted(settings.items()):
        flag = "--limit-request-field_size" if key == "limit_request_field_size" else "--" + key.replace("_", "-")
        if key == "proxy_protocol" and value is True:
            # The fixtures' True is gunicorn's "auto" (the flag's bare form).
            out += [flag, "auto"]
        elif value is True:
            out.append(flag)
        else:
            out += [flag, str(value)]
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exchange(port, raw):
    """Send raw, half-close, read to EOF (bounded)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def live(cases, gunicorn):
    groups = {}
    for case in cases:
        groups.setdefault(json.dumps(case["settings"], sort_keys=True), []).append(case)
    failures = 0
    for key, group in groups.items():
        port = free_port()
        cmd = [gunicorn, *WORKER, "-b", f"127.0.0.1:{port}", "--chdir", APPS,
               *flags(json.loads(key)), "echo:app"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                proc.terminate()
                sys.exit(f"gunicorn did not start: {cmd}\n{proc.communicate(timeout=10)[1].decode()}")
            for case in group:
                out = exchange(port, base64.b64decode(case["raw_b64"]))
                want = case["expect_status"]
                got = int(out.split(b" ", 2)[1]) if out.startswith(b"HTTP/1.1 ") else None
                many = out.count(b"HTTP/1.1 ") > 1
                ok = got == want and not many
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {case['name']}: want {want} got {got}"
                      f"{' (more than one response)' if many else ''}")
        finally:
            proc.terminate()
            proc.wait(10)
    return failures


def main():
    cases = load(sys.argv[1])
    if "--live" in sys.argv:
        sys.exit(1 if live(cases, sys.argv[sys.argv.index("--live") + 1]) else 0)
    write(cases)
    print(f"wrote {len(cases)} cases")


if __name__ == "__main__":
    main()
