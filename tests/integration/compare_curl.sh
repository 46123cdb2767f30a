#!/usr/bin/env bash
# compare_curl.sh - the 10,000-job fetch of case 0068 done by jfetch and by
# curl's parallel mode, side by side: wall time, CPU time, peak RSS.  Not a
# ctest (timings are printed, never asserted), like tests/bench.
#
#   bash compare_curl.sh path/to/jfetch path/to/faultsrv [RUNS] [JOBS]
#
# RUNS (default 3) runs of each tool, alternating; JOBS (default 10000)
# URLs of faultsrv /bytes/N with N from 0 to 64 KiB (Python's
# random.Random(10000), as case 0068).  Both tools use 64 transfers at once:
#   jfetch -i list.txt -o out -j 64 --json
#   curl -Z --parallel-max 64 -s -K curl.cfg     (url = / output = pairs)
# Every run is checked (file count and total bytes) before its time counts,
# and starts after a sync, so no run pays for writing back the last one.
# jfetch writes NAME.part and renames it; curl writes NAME directly.
# faultsrv runs on the same 2 cores, so both figures include serving.
# The files go under $TMPDIR (default /tmp); on a disk the file system's
# own cost (creating and removing 10,000 files) dominates and varies a lot
# from run to run, so TMPDIR=/dev/shm compares the tools more fairly.
set -u
jfetch=${1:?usage: compare_curl.sh JFETCH FAULTSRV [RUNS] [JOBS]}
faultsrv=${2:?usage: compare_curl.sh JFETCH FAULTSRV [RUNS] [JOBS]}
jfetch=$(realpath "$jfetch")
faultsrv=$(realpath "$faultsrv")
runs=${3:-3}
jobs=${4:-10000}
work=$(mktemp -d "${TMPDIR:-/tmp}/jfetch-cmp-XXXXXX")
srv_pid=

cleanup() {
  if [ -n "$srv_pid" ]; then
    kill "$srv_pid" 2>/dev/null
    wait "$srv_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$faultsrv" --port 0 >"$work/srv.out" 2>"$work/srv.err" &
srv_pid=$!
port=
for _ in $(seq 200); do
  port=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$work/srv.out")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "faultsrv did not start"; exit 1; }

python3 - "$port" "$jobs" "$work" <<'EOF'
import random, sys
port, n, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
r = random.Random(10000)
sizes = [r.randint(0, 65536) for _ in range(n)]
base = f"http://127.0.0.1:{port}"
with open(f"{work}/list.txt", "w") as f, open(f"{work}/curl.cfg", "w") as c:
    for i, s in enumerate(sizes):
        f.write(f"{base}/bytes/{s}/f{i}.bin\n")
        c.write(f'url = "{base}/bytes/{s}/f{i}.bin"\noutput = "out/f{i}.bin"\n')
with open(f"{work}/total", "w") as t:
    t.write(str(sum(sizes)))
EOF
total=$(cat "$work/total")
echo "$jobs jobs, $total bytes in all, 64 at once, $(nproc) CPUs"

# measure NAME COMMAND...: one run in a fresh directory, checked, one line
measure() {
  local name=$1
  shift
  rm -rf "$work/run"
  mkdir -p "$work/run/out"
  sync # the last run's dirty pages must not be written back during this one
  (cd "$work/run" && /usr/bin/time -f '%e %U %S %M' -o "$work/time" \
    "$@" >"$work/stdout" 2>"$work/stderr")
  local rc=$?
  local files bytes
  files=$(find "$work/run/out" -type f -name 'f*.bin' | wc -l)
  bytes=$(find "$work/run/out" -type f -name 'f*.bin' -printf '%s\n' |
          awk '{s += $1} END {print s + 0}')
  read -r wall user sys rss <"$work/time"
  local ok=ok
  [ "$rc" -eq 0 ] && [ "$files" -eq "$jobs" ] && [ "$bytes" -eq "$total" ] ||
    ok="BAD (exit $rc, $files files, $bytes bytes)"
  [ "$ok" = ok ] && echo "$wall $rss" >>"$work/$name.all"
  printf '%-7s wall %6.2f s  user %5.2f s  sys %5.2f s  peak RSS %7d KiB  %s\n' \
    "$name" "$wall" "$user" "$sys" "$rss" "$ok"
}

for r in $(seq "$runs"); do
  echo "run $r:"
  measure jfetch "$jfetch" -i "$work/list.txt" -o out -j 64 --json
  measure curl curl -Z --parallel-max 64 -s -K "$work/curl.cfg"
done

# median NAME: the middle run's wall time and the largest peak RSS
median() {
  [ -s "$work/$1.all" ] || { echo "$1: no good run"; return; }
  local n w r
  n=$(wc -l <"$work/$1.all")
  w=$(sort -n "$work/$1.all" | awk -v m=$(((n + 1) / 2)) 'NR == m {print $1}')
  r=$(sort -k2 -n "$work/$1.all" | tail -n 1 | awk '{print $2}')
  printf '%-7s median wall %6.2f s over %d good runs, max peak RSS %d KiB\n' \
    "$1" "$w" "$n" "$r"
}
median jfetch
median curl
