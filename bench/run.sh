#!/usr/bin/env bash
# Airlock cold-start / exec latency benchmark.
#
#   sudo bash bench/run.sh            # ITER=30 WARMUP=3 by default
#   sudo ITER=50 bash bench/run.sh
#
# Measures, in one run, wall-clock time per invocation of:
#   raw crun (same OCI bundle Airlock generates, minus the agent), raw runc,
#   bwrap with roughly equivalent flags, `airlock run` on crun/runc/runsc,
#   `airlock sandbox exec` into a running sandbox, and the bare process start
#   of the two NativeAOT binaries. Prints a table and writes
#   bench/results/latest.md and bench/results/latest.json.
#
# Timing: bash's $EPOCHREALTIME (a builtin: no fork) is read right before and
# right after each invocation, so each sample is fork+exec+run+wait of the
# measured command as launched from bash. stdin is /dev/null, stdout/stderr go
# to a file, identically for every case.
#
# See docs/benchmarks.md for how to read the numbers.
set -uo pipefail
export LC_ALL=C

ITER=${ITER:-30}
WARMUP=${WARMUP:-3}
SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/.." && pwd)
AIRLOCK=${AIRLOCK:-$REPO/artifacts/bin/airlock}
GUEST=${AIRLOCK_GUEST:-$REPO/artifacts/bin/airlock-guest}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 2; }

# ---------------------------------------------------------------------------
# measure NAME FUNC : runs FUNC <i> WARMUP+ITER times, appends one sample (µs)
# per measured iteration to $WORK/samples/NAME. On failure records the error
# text to $WORK/samples/NAME.err and stops that case.
measure() {
    local name=$1 fn=$2 total=$((WARMUP + ITER)) i t0 t1 rc
    local out=$WORK/out/$name.out err=$WORK/out/$name.stderr
    : >"$WORK/samples/$name"
    log "case $name: $WARMUP warm-up + $ITER measured"
    for ((i = 1; i <= total; i++)); do
        # GAP (seconds, outside the timing) spaces runs out the way separate user commands are.
        [[ -n ${GAP:-} ]] && sleep "$GAP"
        t0=$EPOCHREALTIME
        "$fn" "$i" </dev/null >"$out" 2>"$err"
        rc=$?
        t1=$EPOCHREALTIME
        if ((rc != 0)); then
            {
                echo "iteration $i exited $rc"
                head -c 2000 "$err"
            } >"$WORK/samples/$name.err"
            log "case $name FAILED (exit $rc): $(head -c 400 "$err")"
            return 0
        fi
        if ((i == 1)) && [[ -n ${EXPECT:-} ]] && [[ $(<"$out") != "$EXPECT" ]]; then
            { echo "unexpected output: $(head -c 200 "$out")"; head -c 2000 "$err"; } >"$WORK/samples/$name.err"
            log "case $name FAILED: unexpected output"
            return 0
        fi
        ((i > WARMUP)) && echo $((${t1/./} - ${t0/./})) >>"$WORK/samples/$name"
    done
}

# ---------------------------------------------------------------------------
# Phase 2 (re-exec'd inside `unshare -m`): raw runtime baselines.
if [[ ${1:-} == __raw_phase ]]; then
    WORK=$2
    TAG=$3
    # Machine quirk (cgroup v1 hybrid): crun refuses to run while the cgroup2
    # "unified" hierarchy is mounted. This whole phase runs in one private mount
    # namespace where it is unmounted, so no iteration pays an extra unshare.
    if mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
        umount /sys/fs/cgroup/unified || die "cannot unmount /sys/fs/cgroup/unified"
    fi
    raw_crun_true() { crun run --bundle "$WORK/bundles/true-$1" "bench-crun-true-$TAG-$1"; }
    raw_crun_py() { crun run --bundle "$WORK/bundles/py-$1" "bench-crun-py-$TAG-$1"; }
    raw_crun_guest() { crun run --bundle "$WORK/bundles/guest-$1" "bench-crun-guest-$TAG-$1"; }
    raw_runc_true() { runc run --bundle "$WORK/bundles/runc-$1" "bench-runc-true-$TAG-$1"; }
    EXPECT= measure raw-crun-true raw_crun_true
    # Back to back, the kernel's cgroup-migration lock stays in its fast mode between runs (rcu_sync); a user's
    # separate commands are further apart and each pays an RCU grace period. Measure both.
    GAP=0.1 EXPECT= measure raw-crun-true-spaced raw_crun_true
    EXPECT=1 measure raw-crun-python raw_crun_py
    EXPECT= measure raw-crun-guest-version raw_crun_guest
    if command -v runc >/dev/null; then EXPECT= measure raw-runc-true raw_runc_true; fi
    exit 0
fi

# ---------------------------------------------------------------------------
# Phase 1: setup, airlock cases, report.
[[ $(id -u) -eq 0 ]] || die "run as root: sudo bash bench/run.sh"
for t in crun bwrap python3 unshare mountpoint; do
    command -v "$t" >/dev/null || die "missing tool: $t (apt-get install crun bubblewrap python3 util-linux)"
done
if [[ ! -x $AIRLOCK || ! -x $GUEST ]]; then
    log "artifacts missing; building with ./build.sh"
    (cd "$REPO" && ./build.sh) || die "build failed"
fi

WORK=$(mktemp -d /tmp/airlock-bench.XXXXXX)
# mktemp -d gives 0700; the sandbox's mapped root must be able to traverse the
# state dir (Airlock's rootfs and binds live under it), so open it up.
chmod 755 "$WORK"
mkdir -p "$WORK/samples" "$WORK/out" "$WORK/bundles" "$WORK/home"
chmod 755 "$WORK/home"
export AIRLOCK_HOME=$WORK/home
EXEC_ID=

# Snapshot the binaries: others may rebuild artifacts/bin while this runs.
# (Airlock looks for airlock-guest next to its own executable.)
mkdir -m 755 "$WORK/bin"
cp "$AIRLOCK" "$WORK/bin/airlock" && cp "$GUEST" "$WORK/bin/airlock-guest" || die "cannot copy binaries"
AIRLOCK=$WORK/bin/airlock
GUEST=$WORK/bin/airlock-guest
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOAD_BEFORE%% *}" 'BEGIN{exit !(l > 0.5)}'; then
    log "warning: 1-min load average is $LOAD_BEFORE; other work on this machine will skew the numbers"
fi

cleanup() {
    [[ -n $EXEC_ID ]] && "$AIRLOCK" sandbox rm "$EXEC_ID" >/dev/null 2>&1
    for c in crun runc; do
        command -v $c >/dev/null || continue
        $c list -q 2>/dev/null | grep "^bench-.*-$$-" | while read -r id; do $c delete -f "$id" >/dev/null 2>&1; done
    done
    for ctl in memory pids cpu freezer cpuacct cpuset devices blkio systemd unified; do
        [[ -d /sys/fs/cgroup/$ctl/airlock-bench-$$ ]] && find "/sys/fs/cgroup/$ctl/airlock-bench-$$" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    if [[ ${KEEP:-0} != 1 ]]; then
        # tmpfs mounts left by a failed airlock case would make rm fail; unmount first
        grep -o " $WORK/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
        rm -rf "$WORK"
    else
        log "kept $WORK"
    fi
}
trap cleanup EXIT

# --- a template bundle from Airlock itself ---------------------------------
log "creating a sandbox to capture Airlock's OCI bundle"
tmpl_id=$("$AIRLOCK" sandbox create 2>"$WORK/out/create.err") || die "airlock sandbox create failed: $(cat "$WORK/out/create.err")"
tmpl_cfg=$AIRLOCK_HOME/sandboxes/$tmpl_id/config.json
[[ -f $tmpl_cfg ]] || die "no config.json at $tmpl_cfg"
cp "$tmpl_cfg" "$WORK/airlock-config.json"
root_src=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["root"]["path"])' "$tmpl_cfg")
etc_src=$(python3 -c 'import json,sys;print([m["source"] for m in json.load(open(sys.argv[1]))["mounts"] if m["destination"]=="/etc"][0])' "$tmpl_cfg")
# Copy the (tiny) rootfs skeleton and synthesized /etc so the baseline does not
# depend on Airlock's state dir.
cp -a "$root_src" "$WORK/rootfs"
cp -a "$etc_src" "$WORK/etc"
"$AIRLOCK" sandbox rm "$tmpl_id" >/dev/null 2>&1 || log "warning: sandbox rm $tmpl_id failed"

# --- per-iteration bundles (generated outside the timed region) -------------
python3 - "$WORK" "$((WARMUP + ITER))" "$$" <<'PY' || die "bundle generation failed"
import copy, json, os, sys
work, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
base = json.load(open(os.path.join(work, "airlock-config.json")))
uid_host = base["linux"]["uidMappings"][0]["hostID"]
gid_host = base["linux"]["gidMappings"][0]["hostID"]
user = base["process"]["user"]["uid"]
env_common = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/workspace", "LANG=C.UTF-8", "TMPDIR=/tmp"]
workloads = {
    "true": (["/bin/true"], env_common),
    "py": (["python3", "-c", "print(1)"], env_common + ["PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"]),
    "runc": (["/bin/true"], env_common),
    # the agent binary's own start-up cost inside the sandbox (no protocol work)
    "guest": (["/.airlock/guest", "version"], env_common),
}
for kind, (args, env) in workloads.items():
    for i in range(1, n + 1):
        d = os.path.join(work, "bundles", f"{kind}-{i}")
        dirs = {k: os.path.join(d, k) for k in ("workspace", "tmp", "run")}
        for p in dirs.values():
            os.makedirs(p)
        # plain directories stand in for Airlock's per-sandbox tmpfs mounts
        os.chown(dirs["workspace"], uid_host + user, gid_host + user)
        os.chown(dirs["run"], uid_host + user, gid_host + user)
        os.chown(dirs["tmp"], uid_host, gid_host)
        os.chmod(dirs["tmp"], 0o1777)
        c = copy.deepcopy(base)
        c["process"]["args"] = args
        c["process"]["env"] = env
        c["root"]["path"] = os.path.join(work, "rootfs")
        c["linux"]["cgroupsPath"] = f"/airlock-bench-{tag}/{kind}-{i}"
        for m in c["mounts"]:
            dst = m["destination"]
            if dst == "/etc":
                m["source"] = os.path.join(work, "etc")
            elif dst == "/tmp":
                m["source"] = dirs["tmp"]
            elif dst == "/workspace":
                m["source"] = dirs["workspace"]
            elif dst == "/.airlock/run":
                m["source"] = dirs["run"]
        json.dump(c, open(os.path.join(d, "config.json"), "w"))
PY

# --- raw runtimes, in one private mount namespace ---------------------------
log "raw runtime baselines (inside one unshare -m)"
unshare -m --propagation slave bash "$SELF" __raw_phase "$WORK" "$$" || log "raw phase exited non-zero"

# --- bwrap --------------------------------------------------------------------
BWRAP_ARGS=(--unshare-all --die-with-parent --new-session --cap-drop ALL
    --uid 65534 --gid 65534 --hostname sandbox
    --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib
    --symlink usr/lib64 /lib64 --symlink usr/sbin /sbin
    --ro-bind "$WORK/etc" /etc --proc /proc --dev /dev
    --tmpfs /tmp --tmpfs /workspace --chdir /workspace
    --clearenv --setenv PATH /usr/local/bin:/usr/bin:/bin --setenv HOME /workspace
    --setenv LANG C.UTF-8 --setenv TMPDIR /tmp)
bwrap_true() { bwrap "${BWRAP_ARGS[@]}" -- /bin/true; }
bwrap_py() { bwrap "${BWRAP_ARGS[@]}" --setenv PYTHONDONTWRITEBYTECODE 1 --setenv PYTHONUNBUFFERED 1 -- python3 -c 'print(1)'; }
EXPECT= measure bwrap-true bwrap_true
EXPECT=1 measure bwrap-python bwrap_py

# --- airlock ---------------------------------------------------------------------
al_crun_true() { "$AIRLOCK" run -- /bin/true; }
al_crun_py() { "$AIRLOCK" run --python 'print(1)'; }
al_runc_true() { "$AIRLOCK" run --runtime runc -- /bin/true; }
al_runsc_true() { "$AIRLOCK" run --runtime runsc -- /bin/true; }
al_exec_true() { "$AIRLOCK" sandbox exec "$EXEC_ID" -- /bin/true; }
al_help() { "$AIRLOCK" --help; }
guest_version() { "$GUEST" version; }

EXPECT= measure airlock-crun-true al_crun_true
GAP=0.1 EXPECT= measure airlock-crun-true-spaced al_crun_true
EXPECT=1 measure airlock-crun-python al_crun_py
if command -v runc >/dev/null; then EXPECT= measure airlock-runc-true al_runc_true; fi
if command -v runsc >/dev/null; then EXPECT= measure airlock-runsc-true al_runsc_true; fi

if EXEC_ID=$("$AIRLOCK" sandbox create 2>"$WORK/out/exec-create.err"); then
    EXPECT= measure airlock-exec-true al_exec_true
    "$AIRLOCK" sandbox rm "$EXEC_ID" >/dev/null 2>&1 || log "warning: sandbox rm $EXEC_ID failed"
    EXEC_ID=
else
    EXEC_ID=
    { echo "sandbox create failed"; cat "$WORK/out/exec-create.err"; } >"$WORK/samples/airlock-exec-true.err"
    : >"$WORK/samples/airlock-exec-true"
fi

EXPECT= measure startup-airlock-help al_help
EXPECT= measure startup-guest-version guest_version

leftover=$(ls "$AIRLOCK_HOME/sandboxes" 2>/dev/null | wc -l)
export LOAD_BEFORE LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg) AIRLOCK

# --- report -----------------------------------------------------------------------
mkdir -p "$RESULTS_DIR"
python3 - "$WORK" "$RESULTS_DIR" "$ITER" "$WARMUP" "$leftover" "$REPO" <<'PY'
import json, os, platform, statistics, subprocess, sys, datetime
work, outdir, iters, warm, leftover, repo = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
order = [
    ("raw-crun-true", "raw crun run, /bin/true", None),
    ("raw-crun-true-spaced", "raw crun run, /bin/true, 100 ms between runs", None),
    ("raw-crun-python", "raw crun run, python3 -c 'print(1)'", None),
    ("raw-crun-guest-version", "raw crun run, /.airlock/guest version", "raw-crun-true"),
    ("raw-runc-true", "raw runc run, /bin/true", None),
    ("bwrap-true", "bwrap, /bin/true", "raw-crun-true"),
    ("bwrap-python", "bwrap, python3 -c 'print(1)'", "raw-crun-python"),
    ("airlock-crun-true", "airlock run -- /bin/true (crun)", "raw-crun-true"),
    ("airlock-crun-true-spaced", "airlock run -- /bin/true, 100 ms between runs", "raw-crun-true-spaced"),
    ("airlock-crun-python", "airlock run --python 'print(1)' (crun)", "raw-crun-python"),
    ("airlock-runc-true", "airlock run --runtime runc -- /bin/true", "raw-crun-true"),
    ("airlock-runsc-true", "airlock run --runtime runsc -- /bin/true", "raw-crun-true"),
    ("airlock-exec-true", "airlock sandbox exec ID -- /bin/true", None),
    ("startup-airlock-help", "airlock --help (process start only)", None),
    ("startup-guest-version", "airlock-guest version (process start only)", None),
]
def sh(*a):
    try: return subprocess.run(a, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
    except Exception: return "n/a"
rows, res = [], {}
for key, label, base in order:
    p = os.path.join(work, "samples", key)
    if not os.path.exists(p) and not os.path.exists(p + ".err"):
        continue
    xs = [int(l) / 1000.0 for l in open(p) if l.strip()] if os.path.exists(p) else []
    err = open(p + ".err").read().strip() if os.path.exists(p + ".err") else None
    r = {"case": key, "label": label, "n": len(xs), "error": err}
    if xs and not err:
        xs.sort()
        r.update(median_ms=statistics.median(xs), min_ms=xs[0], max_ms=xs[-1],
                 p90_ms=xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))],
                 mean_ms=statistics.fmean(xs), samples_ms=xs)
    res[key] = r
    rows.append((key, base))
for key, base in rows:
    r = res[key]
    if base and "median_ms" in r and "median_ms" in res.get(base, {}):
        r["ratio_to"] = base
        r["ratio"] = r["median_ms"] / res[base]["median_ms"]
    if key == "airlock-runc-true" and "median_ms" in r and "median_ms" in res.get("raw-runc-true", {}):
        r["ratio_to_raw_runc"] = r["median_ms"] / res["raw-runc-true"]["median_ms"]

goals = {}
cold = res.get("airlock-crun-true", {})
if "ratio" in cold:
    goals["cold_run_true"] = {"goal": "<= 1.2x raw crun", "ratio": cold["ratio"], "met": cold["ratio"] <= 1.2}
spaced = res.get("airlock-crun-true-spaced", {})
if "ratio" in spaced:
    goals["cold_run_true_spaced"] = {"goal": "<= 1.2x raw crun, runs 100 ms apart", "ratio": spaced["ratio"], "met": spaced["ratio"] <= 1.2}
coldpy = res.get("airlock-crun-python", {})
if "ratio" in coldpy:
    goals["cold_run_python"] = {"goal": "<= 1.2x raw crun", "ratio": coldpy["ratio"], "met": coldpy["ratio"] <= 1.2}
ex = res.get("airlock-exec-true", {})
if "median_ms" in ex:
    goals["exec_p50"] = {"goal": "<= 3 ms p50", "median_ms": ex["median_ms"], "met": ex["median_ms"] <= 3.0}

meta = {
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "iterations": iters, "warmup": warm, "cpus": os.cpu_count(),
    "kernel": platform.release(),
    "os": sh("sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"),
    "cgroups": "v1 hybrid" if os.path.ismount("/sys/fs/cgroup/unified") else ("v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"),
    "crun": sh("crun", "--version"), "runc": sh("runc", "--version"),
    "runsc": sh("runsc", "--version"), "bwrap": sh("bwrap", "--version"),
    "airlock": sh(os.environ["AIRLOCK"], "--version"),
    "loadavg_before": os.environ.get("LOAD_BEFORE"), "loadavg_after": os.environ.get("LOAD_AFTER"),
    "git": sh("git", "-C", repo, "rev-parse", "--short", "HEAD"),
    "git_dirty": bool(subprocess.run(["git", "-C", repo, "status", "--porcelain", "--", "src"], capture_output=True, text=True).stdout.strip()),
    "sandboxes_left_behind": leftover,
}

def fmt(v): return f"{v:.1f}" if v >= 10 else f"{v:.2f}"
hdr = ["case", "median ms", "min ms", "max ms", "p90 ms", "ratio (median/median)"]
lines = []
for key, _ in rows:
    r = res[key]
    if "median_ms" not in r:
        lines.append([key, "FAILED", "", "", "", (r["error"] or "").splitlines()[-1][:70] if r["error"] else ""])
        continue
    ratio = ""
    if "ratio" in r: ratio = f"{r['ratio']:.2f}x vs {r['ratio_to']}"
    if "ratio_to_raw_runc" in r: ratio += f"; {r['ratio_to_raw_runc']:.2f}x vs raw-runc-true"
    if key == "airlock-exec-true": ratio = f"goal 3 ms: {r['median_ms'] / 3.0:.2f}x of budget"
    lines.append([key, fmt(r["median_ms"]), fmt(r["min_ms"]), fmt(r["max_ms"]), fmt(r["p90_ms"]), ratio])
w = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(hdr)]
txt = "  ".join(h.ljust(w[i]) for i, h in enumerate(hdr)) + "\n" + "  ".join("-" * x for x in w) + "\n"
txt += "\n".join("  ".join(c.ljust(w[i]) for i, c in enumerate(l)) for l in lines) + "\n"
print()
print(txt)
for k, g in goals.items():
    v = f"{g['ratio']:.2f}x" if "ratio" in g else f"{g['median_ms']:.2f} ms"
    print(f"goal {k}: {g['goal']}: measured {v} -> {'MET' if g['met'] else 'NOT MET'}")
for key, _ in rows:
    if res[key].get("error"):
        print(f"\n{key} failed:\n{res[key]['error']}")

md = [f"# Airlock benchmark results", "",
      f"Generated by `sudo bash bench/run.sh` on {meta['date']}.", "",
      "| key | value |", "| --- | --- |"]
md += [f"| {k} | {v} |" for k, v in meta.items()]
md += ["", f"{iters} measured iterations per case after {warm} warm-up runs; wall-clock per invocation.", "",
       "| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
md += ["| " + " | ".join(c.replace("|", "\\|") for c in l) + " |" for l in lines]
md += ["", "## Goals", ""]
for k, g in goals.items():
    v = f"{g['ratio']:.2f}x" if "ratio" in g else f"{g['median_ms']:.2f} ms"
    md.append(f"- {k}: {g['goal']} — measured {v} — **{'met' if g['met'] else 'not met'}**")
errs = [(k, res[k]["error"]) for k, _ in rows if res[k].get("error")]
if errs:
    md += ["", "## Failures", ""]
    for k, e in errs:
        md += [f"### {k}", "", "```", e, "```", ""]
md += ["", "Raw samples are in `latest.json`."]
open(os.path.join(outdir, "latest.md"), "w").write("\n".join(md) + "\n")
json.dump({"meta": meta, "goals": goals, "cases": [res[k] for k, _ in rows]},
          open(os.path.join(outdir, "latest.json"), "w"), indent=1)
print(f"\nwrote {os.path.join(outdir, 'latest.md')} and latest.json")
PY
