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

say "egress: only allowed names, only through Airlock's proxy (a server on this host's loopback stands in for the internet)"
web=$(mktemp -d)
echo "hello from an allowed host" > "$web/index.html"
python3 -m http.server 18765 --bind 127.0.0.1 --directory "$web" >/dev/null 2>&1 &
webpid=$!
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18765/ && break; sleep 0.1; done
./airlock run --allow-domain api.example.test:18765 --resolve api.example.test:18765:127.0.0.1 -- sh -c '
  curl -sS http://api.example.test:18765/
  curl -sS -o /dev/null -w "evil.test -> HTTP %{http_code}\n" http://evil.test/
  curl -sS -o /dev/null -w "metadata -> HTTP %{http_code}\n" http://169.254.169.254/
  curl -sS --max-time 2 --noproxy "*" http://127.0.0.1:18765/ || echo "ignoring the proxy: no route"' || true
kill "$webpid"; rm -rf "$web"

say "fast classes: a V8 isolate and a wasm module"
./airlock run --js 'console.log("javascript in a fresh isolate:", typeof require, typeof process)' || true
[ -f artifacts/wasm-fixtures/hello.wasm ] && ./airlock run --class wasm artifacts/wasm-fixtures/hello.wasm from-wasm || true

say "a sandbox that lives across commands"
id=$(./airlock sandbox create --template python)
./airlock sandbox exec "$id" -- python3 -c 'open("notes.txt", "w").write("state survives between execs\n")'
./airlock sandbox exec "$id" -- cat notes.txt
./airlock sandbox cp "$id:notes.txt" - ; ./airlock sandbox cp "$id:../../etc/passwd" - || true
./airlock sandbox rm "$id" >/dev/null

say "as a service: airlock serve, a warm pool, a claim in milliseconds, an audited trail"
data=$(mktemp -d /var/tmp/airlock-demo-XXXXXX)
chmod 711 "$data"
./airlock serve --data-dir "$data" 2>/dev/null &
daemon=$!
for _ in $(seq 100); do [ -S "$data/airlock.sock" ] && break; sleep 0.1; done
(
  export AIRLOCK_HOST=unix:$data/airlock.sock
  AIRLOCK_TOKEN=$(./airlock token create --data-dir "$data" --tenant demo --ttl 1h)
  export AIRLOCK_TOKEN
  ./airlock pool apply py --template python --replicas 2 >/dev/null
  until ./airlock pool ls | grep -q ' 2 .* 2 '; do sleep 0.1; done
  ./airlock pool ls
  ./airlock claim create job --pool py
  ./airlock sandbox exec job -- python3 -c 'print("claimed from a warm pool:", 6 * 7)'
  ./airlock claim ls
  ./airlock claim rm job >/dev/null
  ./airlock pool rm py
  ./airlock audit tail --data-dir "$data" -n 6
  ./airlock audit verify --data-dir "$data"
)
kill "$daemon"; wait "$daemon" 2>/dev/null || true
rm -rf "$data"

say "nothing is left behind"
echo "sandbox directories: $(find "${AIRLOCK_HOME:-/var/lib/airlock}/sandboxes" -mindepth 1 -maxdepth 1 | wc -l)"
echo "airlock mounts:      $(grep -c "${AIRLOCK_HOME:-/var/lib/airlock}/sandboxes" /proc/self/mountinfo || true)"
