#!/bin/sh
# Memory figures for the hello app: gunicorn-rs (release build) against gunicorn 27.
#
#   bench/mem.sh                 # build, then master/worker RSS idle and under wrk, by mapping,
#                                # and PSS per added worker with --preload (1 vs 3 workers)
#   MEM_VENV=/path bench/mem.sh  # the venv gunicorn 27 is installed into (default /tmp/memvenv);
#                                # every server runs with it as VIRTUAL_ENV, as ../shared/bench does
#   bench/mem.sh --app jsonapp --seconds 10   # extra arguments go to bench/mem.py
#
# Prints only; nothing is asserted. Apps: ../shared/bench/apps if present, else tests/apps.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
venv=${MEM_VENV:-/tmp/memvenv}
if [ ! -x "$venv/bin/gunicorn" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet gunicorn==27.0.1
fi
apps="$root/../shared/bench/apps"
[ -d "$apps" ] || apps="$root/tests/apps"
(cd "$root" && cargo build --release --quiet)
target=${CARGO_TARGET_DIR:-$root/target}
exec python3 "$here/mem.py" --venv "$venv" --apps "$apps" --breakdown --preload 3 \
    --server "gunicorn-rs=$target/release/gunicorn-rs" \
    --server "gunicorn=$venv/bin/gunicorn" "$@"
