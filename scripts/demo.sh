#!/usr/bin/env bash
# The main job: untrusted Python runs in a hardened sandbox; we see its output and what it was denied.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_SECRET_ACCESS_KEY=host-secret-never-enters GITHUB_TOKEN=host-token-never-enters
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "airlock run --python-file examples/untrusted.py   (crun, the default runtime)"
./airlock run --python-file examples/untrusted.py

say "the same code under gVisor (runsc): a user-space kernel between it and the host"
./airlock run --runtime runsc --python-file examples/untrusted.py | tail -n 4

say "limits bite: a memory bomb in a 64Mi sandbox"
./airlock run --memory 64Mi --json --python 'b = []
while True: b.append(bytearray(8 << 20))' || true

say "limits bite: an endless loop with --timeout 1s"
./airlock run --timeout 1s --json -- sh -c 'while :; do :; done' || true

say "a sandbox that lives across commands"
id=$(./airlock sandbox create --template python)
./airlock sandbox exec "$id" -- python3 -c 'open("notes.txt", "w").write("state survives between execs\n")'
./airlock sandbox exec "$id" -- cat notes.txt
./airlock sandbox cp "$id:notes.txt" - ; ./airlock sandbox cp "$id:../../etc/passwd" - || true
./airlock sandbox rm "$id" >/dev/null

say "nothing is left behind"
echo "sandbox directories: $(find "${AIRLOCK_HOME:-/var/lib/airlock}/sandboxes" -mindepth 1 -maxdepth 1 | wc -l)"
echo "airlock mounts:      $(grep -c "${AIRLOCK_HOME:-/var/lib/airlock}/sandboxes" /proc/self/mountinfo || true)"
