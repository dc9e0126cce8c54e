"""Reports which interpreter and virtualenv the server runs, for tests/venvs.rs.

/info: sys.prefix, sys.executable, sys.base_prefix and whether the module
`only_in_scratch_venv` (dropped into the scratch venv's site-packages only)
imports. /spawn: a multiprocessing 'spawn' pool, which starts sys.executable,
maps `child_info`. Prints to stdout at import and per request, without flush.
"""

import json
import multiprocessing
import sys

print("sysinfo imported in " + multiprocessing.current_process().name)

SEEN = [0]


def child_info(x):
    """Runs in the spawned child: must be importable (it is, by module name)."""
    return [x * x, sys.prefix, sys.executable]


def _venv_only():
    try:
        import only_in_scratch_venv  # noqa: F401
    except ImportError:
        return False
    return True


def app(environ, start_response):
    SEEN[0] += 1
    print("sysinfo request %d %s" % (SEEN[0], environ["PATH_INFO"]))
    if environ["PATH_INFO"] == "/spawn":
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            data = pool.map(child_info, [3])
    else:
        data = {
            "prefix": sys.prefix,
            "executable": sys.executable,
            "base_prefix": sys.base_prefix,
            "venv_only": _venv_only(),
        }
    out = json.dumps(data).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
