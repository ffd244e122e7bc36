#!/usr/bin/env bash
# Where does `airlock run -- /bin/true` spend its time?
#
#   sudo bash bench/breakdown.sh        # ITER=30 WARMUP=3 by default
#
# Inside a private mount namespace, /usr/bin/crun is bind-mounted over with a
# tiny bash wrapper that logs $EPOCHREALTIME before and after calling the real
# crun. That splits each `airlock run` into:
#   pre   airlock process start -> crun exec (CLI start, state dir, tmpfs
#         mounts, cgroup parent, config.json, helper fork + unshare)
#   crun  the crun process (namespaces, mounts, seccomp, guest agent start,
#         /bin/true, teardown of the container and its cgroup)
#   post  crun exit -> airlock exit (unmounts, cgroup parent and dir removal)
# The wrapper itself adds about one bash start (~1 ms) to "crun".
set -uo pipefail
export LC_ALL=C
ITER=${ITER:-30}
WARMUP=${WARMUP:-3}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
AIRLOCK=${AIRLOCK:-$REPO/artifacts/bin/airlock}
[[ $(id -u) -eq 0 ]] || { echo "run as root" >&2; exit 2; }
CRUN=$(command -v crun) || { echo "crun missing" >&2; exit 2; }

WORK=$(mktemp -d /tmp/airlock-breakdown.XXXXXX)
chmod 755 "$WORK"
mkdir -m 755 "$WORK/home"
trap 'rm -rf "$WORK"' EXIT
cp "$CRUN" "$WORK/crun.real"
cat >"$WORK/crun-wrap" <<EOF
#!/bin/bash
echo "crun_start \$EPOCHREALTIME" >>"$WORK/log"
"$WORK/crun.real" "\$@"
rc=\$?
echo "crun_end \$EPOCHREALTIME" >>"$WORK/log"
exit \$rc
EOF
chmod 755 "$WORK/crun-wrap"
: >"$WORK/log"

AIRLOCK_HOME=$WORK/home unshare -m --propagation slave bash -c '
set -u
mount --bind "$1/crun-wrap" "$2" || exit 1
for ((i = 0; i < $4; i++)); do
  echo "start $EPOCHREALTIME" >>"$1/log"
  "$3" run -- /bin/true </dev/null >/dev/null 2>"$1/err" || { echo "airlock run failed: $(cat "$1/err")" >&2; exit 1; }
  echo "end $EPOCHREALTIME" >>"$1/log"
done' _ "$WORK" "$CRUN" "$AIRLOCK" "$((ITER + WARMUP))" || exit 1

python3 - "$WORK/log" "$WARMUP" <<'PY'
import statistics, sys
runs, cur = [], {}
for line in open(sys.argv[1]):
    k, v = line.split()
    cur[k] = float(v)
    if k == "end":
        runs.append(cur); cur = {}
runs = runs[int(sys.argv[2]):]
parts = [("pre: airlock start -> crun exec", "start", "crun_start"),
         ("crun: crun run incl. guest agent", "crun_start", "crun_end"),
         ("post: crun exit -> airlock exit", "crun_end", "end"),
         ("total", "start", "end")]
print(f"airlock run -- /bin/true, {len(runs)} runs (ms)")
print(f"{'phase':36s} {'median':>7s} {'min':>7s} {'max':>7s}")
for name, a, b in parts:
    xs = [(r[b] - r[a]) * 1000 for r in runs]
    print(f"{name:36s} {statistics.median(xs):7.2f} {min(xs):7.2f} {max(xs):7.2f}")
PY
