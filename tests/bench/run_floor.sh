#!/usr/bin/env bash
# Issue 15: jfetch against the bare-libcurl floor (tests/bench/floor.c),
# side by side, alternating, on nginx over loopback with everything on tmpfs.
#
#   tests/bench/run_floor.sh                 # RUNS=5, the 1M list once
#   RUNS=3 RUNS_1M=0 tests/bench/run_floor.sh
#   WORKLOADS=a,e100k STRACE=0 tests/bench/run_floor.sh
#
# Workloads: a (5,000 x 4 KiB to files), b (200 x 1 MiB to files), e100k
# and e1m (100,000 / 1,000,000 16-byte responses, bodies discarded).
# Environment: RUNS (5), RUNS_1M (1; 0 leaves e1m out), WORKLOADS (all),
# STRACE (1: one strace -f -c run per tool and workload, apart from the
# timed runs; e1m is never straced), JFETCH, FLOOR (binaries; default: a
# Release build in build-bench-floor/), RESULTS (tests/bench/results/floor.md).
#
# Each timed run is wrapped in /usr/bin/time -f '%e %U %S %M' (wall from
# our own clock around it); medians over the runs; the tools alternate,
# the first of a pair changing every repetition.  Every run must exit 0;
# file runs are checked for the exact file count and byte total.  The table
# is written to RESULTS; anything from the line "## Where jfetch's extra
# cost goes" on in an existing RESULTS is kept (the profile, written by
# hand).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${RUNS:-5}
runs_1m=${RUNS_1M:-1}
workloads=${WORKLOADS:-a,b,e100k,e1m}
strace_on=${STRACE:-1}
results=${RESULTS:-$here/results/floor.md}
conc_threads=2
conc_handles=32
conc=$((conc_threads * conc_handles))
log() { echo "floor-bench: $*" >&2; }
t_start=$(date +%s)

# ---- build -------------------------------------------------------------------
if [ -z "${JFETCH:-}" ] || [ -z "${FLOOR:-}" ]; then
  build="$root/build-bench-floor"
  log "building jfetch and floor (Release, $build)"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DJFETCH_TESTS=OFF \
    -DJFETCH_BENCH=ON >/dev/null
  cmake --build "$build" -j2 --target jfetch floor >/dev/null
fi
jfetch=${JFETCH:-$root/build-bench-floor/src/jfetch}
floor=${FLOOR:-$root/build-bench-floor/tests/bench/floor}
nginx=$(command -v nginx || echo /usr/sbin/nginx)
for b in "$jfetch" "$floor" "$nginx" /usr/bin/time; do
  [ -x "$b" ] || { log "missing: $b"; exit 2; }
done
[ "$strace_on" = 1 ] && ! command -v strace >/dev/null && {
  log "strace missing (apt-get install strace, or STRACE=0)"; exit 2; }

# ---- scratch dir and nginx on tmpfs (stopped by pid on exit) ----------------
tmp=$(mktemp -d -p /dev/shm floor.XXXXXX)
chmod 755 "$tmp" # nginx workers may run as nobody
ngx=
cleanup() {
  if [ -n "$ngx" ]; then
    kill "$ngx" 2>/dev/null || true
    wait "$ngx" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "generating data in $tmp"
python3 - "$tmp/www" <<'PY'
import os, sys
www = sys.argv[1]
for d, n, size in (("a", 5000, 4096), ("b", 200, 1 << 20)):
    os.makedirs(os.path.join(www, d))
    for i in range(n):
        with open(os.path.join(www, d, f"f{i:05d}.bin"), "wb") as f:
            f.write(os.urandom(size))
with open(os.path.join(www, "tiny"), "wb") as f:
    f.write(b"0123456789abcdef")
PY
mkdir -p "$tmp/ngx"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
start_nginx() { # tests/bench/peers/nginx.conf.in, as run_peers.sh uses it
  local port i
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    sed -e "s|@PORT@|$port|g" -e "s|@ROOT@|$tmp/www|g" -e "s|@TMP@|$tmp/ngx|g" \
      "$here/peers/nginx.conf.in" >"$tmp/ngx/nginx.conf"
    "$nginx" -p "$tmp/ngx" -c "$tmp/ngx/nginx.conf" -e "$tmp/ngx/error.log" \
      </dev/null &
    ngx=$!
    for i in $(seq 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        base=http://127.0.0.1:$port
        return 0
      fi
      kill -0 "$ngx" 2>/dev/null || break
      sleep 0.05
    done
    kill "$ngx" 2>/dev/null || true
    wait "$ngx" 2>/dev/null || true
    ngx=
  done
  log "nginx would not start; see $tmp/ngx/error.log"
  exit 1
}
start_nginx
log "nginx pid $ngx at $base"

# ---- workloads ---------------------------------------------------------------
# key|title|kind (files or discard)|jobs|bytes a job
wl_def() {
  case $1 in
    a) echo "a|(a) 5,000 x 4 KiB to files|files|5000|4096" ;;
    b) echo "b|(b) 200 x 1 MiB to files|files|200|1048576" ;;
    e100k) echo "e100k|(e) 100,000 x 16 B discarded|discard|100000|16" ;;
    e1m) echo "e1m|(e) 1,000,000 x 16 B discarded|discard|1000000|16" ;;
    *) log "unknown workload $1"; exit 2 ;;
  esac
}
make_list() { # key kind jobs
  local f="$tmp/$1.list"
  case $1 in
    a) seq -f "$base/a/f%05g.bin" 0 4999 >"$f" ;;
    b) seq -f "$base/b/f%05g.bin" 0 199 >"$f" ;;
    e*) seq -f "$base/e/%g" 1 "$3" >"$f" ;;
  esac
}

cmd_of() { # tool kind list out: prints nothing, sets argv and sink
  sink=/dev/null
  if [ "$1" = jfetch ]; then
    argv=("$jfetch" -q -j "$conc" -i "$3")
    if [ "$2" = files ]; then argv+=(-o "$4"); else argv+=(-O -); fi
  else
    argv=("$floor" -t "$conc_threads" -n "$conc_handles")
    [ "$2" = files ] && argv+=(-o "$4")
    argv+=("$3")
  fi
}

verify() { # kind out jobs bytes
  [ "$1" = files ] || return 0
  local n sum
  n=$(find "$2" -type f | wc -l)
  sum=$(find "$2" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
  [ "$n" = "$3" ] && [ "$sum" = "$(($3 * $4))" ] || {
    log "verification failed in $2: $n files, $sum bytes"; return 1; }
  [ -z "$(find "$2" -name '*.part')" ]
}

raw="$tmp/raw.tsv"
: >"$raw"
one_run() { # key kind jobs bytes tool rep
  local out="$tmp/out" tf="$tmp/time" t0 t1
  rm -rf "$out" && mkdir "$out"
  cmd_of "$5" "$2" "$tmp/$1.list" "$out"
  t0=$(date +%s.%N)
  timeout 900 /usr/bin/time -f '%e %U %S %M' -o "$tf" "${argv[@]}" >"$sink" \
    || { log "$5 on $1 exited $?"; exit 1; }
  t1=$(date +%s.%N)
  verify "$2" "$out" "$3" "$4" || exit 1
  read -r _ u s m <"$tf"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$5" "$6" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" "$u" "$s" "$m" >>"$raw"
  log "$1 rep $6 $5: $(tail -1 "$raw" | cut -f4-)"
  rm -rf "$out"
}

sc="$tmp/strace.tsv"
: >"$sc"
strace_run() { # key kind jobs tool
  local out="$tmp/out" so="$tmp/strace.$1.$4"
  rm -rf "$out" && mkdir "$out"
  cmd_of "$4" "$2" "$tmp/$1.list" "$out"
  strace -f -c -o "$so" "${argv[@]}" >"$sink" || { log "strace run failed"; exit 1; }
  rm -rf "$out"
  awk -v k="$1" -v t="$4" '$1 ~ /^[0-9.]+$/ { print k "\t" t "\t" $NF "\t" $4 }' \
    "$so" >>"$sc"
  log "strace $1 $4: $(tail -1 "$sc" | cut -f3-)"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
IFS=, read -ra wls <<<"$workloads"
for w in "${wls[@]}"; do
  IFS='|' read -r key title kind jobs bytes <<<"$(wl_def "$w")"
  n=$runs
  [ "$key" = e1m ] && n=$runs_1m
  [ "$n" -gt 0 ] || continue
  make_list "$key" "$kind" "$jobs"
  log "$title: $n repetitions"
  for rep in $(seq "$n"); do
    if [ $((rep % 2)) = 1 ]; then order="jfetch floor"; else order="floor jfetch"; fi
    for tool in $order; do one_run "$key" "$kind" "$jobs" "$bytes" "$tool" "$rep"; done
  done
  if [ "$strace_on" = 1 ] && [ "$key" != e1m ]; then
    for tool in jfetch floor; do strace_run "$key" "$kind" "$jobs" "$tool"; done
  fi
  rm -f "$tmp/$key.list"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- report ------------------------------------------------------------------
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- src runtime 2>/dev/null || commit="$commit+dirty"
cmdline="tests/bench/run_floor.sh"
for v in RUNS RUNS_1M WORKLOADS STRACE; do
  [ -n "${!v:-}" ] && cmdline="$v=${!v} $cmdline"
done
mkdir -p "$(dirname "$results")"
python3 - "$raw" "$sc" "$results" <<PY
import os, statistics, sys
raw, sc, path = sys.argv[1:4]
defs = {
$(for w in "${wls[@]}"; do IFS='|' read -r k t kd j by <<<"$(wl_def "$w")"; echo "  '$k': ('$t', '$kd', $j, $by),"; done)
}
runs = {}
for line in open(raw):
    k, tool, rep, wall, u, s, m = line.rstrip("\n").split("\t")
    runs.setdefault((k, tool), []).append((float(wall), float(u) + float(s), int(m)))
strace = {}
for line in open(sc):
    k, tool, name, calls = line.rstrip("\n").split("\t")
    strace.setdefault((k, tool), {})[name] = int(calls)
strace = {kt: (c.pop("total"), ", ".join(f"{n} {v:,}" for n, v in sorted(c.items(), key=lambda x: -x[1])[:8])) for kt, c in strace.items()}
med = statistics.median
out = []
w = out.append
w("# jfetch against the libcurl floor")
w("")
w("- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); total time $(( ($(date +%s) - t_start) / 60 )) min")
w("- command: \`$cmdline\`")
w("- jfetch: $("$jfetch" --version | head -1) (Release, $commit); floor: tests/bench/floor.c, $(curl-config --version 2>/dev/null || echo libcurl)")
w("- machine: nproc $(nproc), kernel $(uname -r); load average (1/5/15 min) before $load_before, after $load_after. The machine is shared with other engineers' builds and tests: the figures are noisy, which is why the tools alternate and medians are shown (min-max of the walls in brackets).")
w("- server: nginx $("$nginx" -v 2>&1 | sed 's|.*/||'), tests/bench/peers/nginx.conf.in (127.0.0.1, one worker, sendfile, keepalive_requests 1000000, access_log off), data and outputs on tmpfs (/dev/shm). Server and client share the 2 cores; CPU counts the client only.")
w("- jfetch: \`jfetch -q -j $conc -i LIST -o OUT\` (files: NAME.part, then rename to NAME), \`jfetch -q -j $conc -i LIST -O - > /dev/null\` (discard: jfetch has no discard mode; -O - holds each body in memory and writes it to stdout, so it does one write(2) a job more than the floor); default --threads (one per CPU, 2 here)")
w("- floor: \`floor -t $conc_threads -n $conc_handles -o OUT LIST\` (files: openat NAME, write per chunk, close; no .part), \`floor -t $conc_threads -n $conc_handles LIST\` (discard: the write callback drops the bytes): 2 threads x 32 reused easy handles = $conc transfers at once, as jfetch -j $conc")
w("- wall from the runner's clock around \`/usr/bin/time -f '%e %U %S %M'\`, which gives CPU (user+sys) and peak RSS; syscalls from one separate \`strace -f -c\` run per tool (not timed; e1m not straced)")
w("")
w("| workload | tool | runs | median wall s | CPU s | CPU µs/job | peak RSS MiB | syscalls/job |")
w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
ratios = []
for k, (title, kind, jobs, by) in defs.items():
    res = {}
    for tool in ("floor", "jfetch"):
        r = runs.get((k, tool))
        if not r:
            continue
        walls = [x[0] for x in r]
        wall, cpu, rss = med(walls), med(x[1] for x in r), med(x[2] for x in r)
        st = strace.get((k, tool))
        spj = st[0] / jobs if st else None
        res[tool] = (wall, cpu, rss, spj)
        w(f"| {title} | {tool} | {len(r)} | {wall:.3f} [{min(walls):.2f}-{max(walls):.2f}] | {cpu:.2f} | {cpu / jobs * 1e6:.1f} | {rss / 1024:.1f} | {'%.2f' % spj if spj is not None else '-'} |")
    if len(res) == 2:
        j, f = res["jfetch"], res["floor"]
        d = (f"{j[3] - f[3]:+.2f}" if j[3] is not None and f[3] is not None else "-")
        ratios.append(f"| {title} | {j[0] / f[0]:.2f} | {j[1] / f[1]:.2f} | {j[2] / f[2]:.2f} | {d} |")
w("")
w("jfetch ÷ floor (goal of issue 15 on (a) and (e): wall ≤ 1.05, CPU ≤ 1.10, syscalls/job ≤ floor + 1.2):")
w("")
w("| workload | wall | CPU | peak RSS | syscalls/job, jfetch − floor |")
w("| --- | ---: | ---: | ---: | ---: |")
out.extend(ratios)
if strace:
    w("")
    w("Most frequent syscalls (strace -f -c, calls in the whole run):")
    w("")
    for (k, tool), (tot, top) in strace.items():
        w(f"- {defs[k][0]}, {tool}: {tot:,} calls; {top}")
w("")
w("Raw runs (workload, tool, repetition, wall s, user s, sys s, max RSS KiB):")
w("")
w("\`\`\`")
out.extend(l.rstrip("\n") for l in open(raw))
w("\`\`\`")
keep = ""
marker = "## Where jfetch's extra cost goes"
if os.path.exists(path):
    old = open(path).read()
    if marker in old:
        keep = old[old.index(marker):]
text = "\n".join(out) + "\n"
if keep:
    text += "\n" + keep
open(path, "w").write(text)
print("\n".join(out))
PY
log "written $results"
