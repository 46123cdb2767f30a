#!/usr/bin/env bash
# Issue 12's figures: does each cap hold, and what does pacing cost?
#   tests/bench/run_pace.sh [JFETCH [FAULTSRV [BENCH_PACE]]]
#   (RUNS=1; OUT=results/pace.md)
# Against faultsrv on loopback (tmpfs), for 1 and 64 transfers of ~10 s:
#   1 x 20 MiB at --limit-rate 2M; 64 x 1000 KiB at --limit-rate 100K -j 64;
#   64 x 640 KiB under --limit-rate-total 4M -j 64;
# reports the achieved rate against the cap (per transfer: bytes over its
# elapsed_ms; total: all bytes over the run's wall time), the spread
# between transfers, and the CPU seconds (user+sys) of the capped run
# against an uncapped run of the same bytes.  A benchmark, not a test: it
# asserts nothing and exits 0 unless a run fails or a file is wrong.
# Then bench_pace: nanoseconds per charge of the shared meter (one CAS)
# against a mutex-guarded bucket, 1 to 4 threads.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
jfetch=${1:-$root/build/src/jfetch}
faultsrv=${2:-$root/build/tests/server/faultsrv}
bench_pace=${3:-$root/build/tests/bench/bench_pace}
out=${OUT:-$root/tests/bench/results/pace.md}
for b in "$jfetch" "$faultsrv" "$bench_pace"; do
  [ -x "$b" ] || { echo "not built: $b (pass paths)" >&2; exit 2; }
done
. "$root/tests/lib/faultsrv.sh"
TMPDIR=/dev/shm faultsrv_start "$faultsrv"
python3 - "$jfetch" "$u" "$out" "${RUNS:-1}" <<'PY'
import json, os, resource, shutil, subprocess, sys, time
jfetch, base, out, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
K, M = 1024, 1024 * 1024

def run(args, urls, tag):
    d = "out-" + tag
    shutil.rmtree(d, ignore_errors=True)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([jfetch, "-q", "--json", "-o", d] + args + urls,
                       capture_output=True, timeout=600)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    recs = [json.loads(l) for l in p.stdout.decode().splitlines()]
    if p.returncode or any(r["outcome"] != "ok" for r in recs):
        sys.exit("%s: exit %d %s" % (tag, p.returncode, p.stderr[:300]))
    shutil.rmtree(d)
    return wall, cpu, recs

scen = [
    ("1 transfer, --limit-rate 2M", 1, 20 * M, ["--limit-rate", "2M"],
     2 * M, "each"),
    ("64 transfers, --limit-rate 100K each", 64, 1000 * K,
     ["-j", "64", "--limit-rate", "100K"], 100 * K, "each"),
    ("64 transfers, --limit-rate-total 4M", 64, 640 * K,
     ["-j", "64", "--limit-rate-total", "4M"], 4 * M, "total"),
]
rows = []
for name, n, size, capargs, cap, kind in scen:
    for k in range(runs):
        urls = ["%s/bytes/%d/f%d.bin" % (base, size, i) for i in range(n)]
        jn = [] if n == 1 else ["-j", "64"]
        wall, cpu, recs = run(capargs, urls, "cap")
        fwall, fcpu, _ = run(jn, urls, "free")
        per = [r["bytes"] / (r["elapsed_ms"] / 1000.0) for r in recs]
        el = [r["elapsed_ms"] / 1000.0 for r in recs]
        if kind == "each":
            got = sum(per) / len(per)
        else:
            got = n * size / wall
        rows.append((name, cap, got, (got / cap - 1) * 100, min(per),
                     max(per), min(el), max(el), wall, cpu, fwall, fcpu))
        print("%s: %.0f B/s against %d (%+.2f%%), %.2f s wall, cpu %.2f s "
              "capped / %.2f s free" % (name, got, cap, rows[-1][3], wall, cpu,
                                        fcpu), flush=True)

def kib(x):
    return "%.1f KiB/s" % (x / K)

lines = [
    "# Pacing: caps held, and their cost",
    "",
    "`tests/bench/run_pace.sh` against faultsrv on loopback (tmpfs), %s, "
    "%d CPUs (shared with other engineers: CPU figures are noisy). "
    "Achieved rate: per transfer, its bytes over its `elapsed_ms` (mean of "
    "the transfers; connection set-up included); total, all bytes over the "
    "run's wall time.  CPU: user+sys of the whole jfetch process, capped run "
    "and an uncapped run of the same bytes." % (time.strftime("%Y-%m-%d"),
                                                 os.cpu_count()),
    "",
    "| case | cap | achieved | vs cap | slowest / fastest transfer | "
    "elapsed min-max | wall | CPU capped | CPU uncapped (wall) |",
    "|---|---|---|---|---|---|---|---|---|",
]
for (name, cap, got, dev, pmin, pmax, emin, emax, wall, cpu, fwall,
     fcpu) in rows:
    lines.append("| %s | %s | %s | %+.2f%% | %s / %s | %.2f-%.2f s | %.2f s "
                 "| %.2f s | %.2f s (%.2f s) |" %
                 (name, kib(cap), kib(got), dev, kib(pmin), kib(pmax), emin,
                  emax, wall, cpu, fcpu, fwall))
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print("wrote " + out)
PY
{
  echo
  echo "The shared meter, per charge (one per read of 1-128 KiB), all"
  echo "threads charging flat out (\`bench_pace 4\`; wall ns per charge per"
  echo "thread, rt_now() included):"
  echo
  "$bench_pace" 4
} | tee -a "$out"
