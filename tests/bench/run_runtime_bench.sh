#!/usr/bin/env bash
# Runtime benchmark: the jfetch task runtime against Tokio 1.24, side by side.
#
#   tests/bench/run_runtime_bench.sh            # N=5 repetitions
#   REPS=3 tests/bench/run_runtime_bench.sh     # fewer
#
# One command: installs what is missing (apt), builds both programs (cmake
# for bench_runtime in build-bench/, cargo offline from Debian's packaged
# crates for tokio/), runs every scenario REPS times for both programs,
# alternating (a separate process per run), and prints a markdown table of
# the medians.  The table also goes to tests/bench/results/runtime.md with
# the date, the command, nproc and every run's value.
#
# Scenarios (2 worker threads on both sides, all spawns from the main /
# block_on thread; see bench_runtime.c and tokio/src/main.rs):
#   a   1M trivial tasks, handles kept, joined in order
#   a2  the same through a JoinSet
#   b   1M tasks pending on a never-notified Notify; abort + join all
#   c   100k tasks, every tenth panics
#   d   ping-pong over two channels of capacity 1, 1M round trips
# Every run checks its results; a failing, crashing or hanging run (timeout)
# stops the script with its output.
set -euo pipefail

REPS=${REPS:-5}
RUN_TIMEOUT=${RUN_TIMEOUT:-120} # seconds per run
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$root/build-bench"
results="$here/results"
start_s=$(date +%s)
cmdline="tests/bench/run_runtime_bench.sh${*:+ $*}"
[ "$REPS" != 5 ] && cmdline="REPS=$REPS $cmdline"

log() { echo "bench: $*" >&2; }

# ---- dependencies ------------------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
pkgs=(build-essential cmake pkg-config libcurl4-openssl-dev libev-dev
      librust-tokio-dev)
command -v cargo >/dev/null 2>&1 || pkgs+=(cargo)
bash "$root/scripts/deps.sh" --only "${pkgs[@]}"

# ---- build -------------------------------------------------------------------
# Our side: its own build tree, runtime only, no sanitizers, -O2 -g.
log "building bench_runtime (cmake, $build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DJFETCH_WERROR=ON -DJFETCH_SANITIZE= -DJFETCH_BENCH=ON \
  -DJFETCH_TESTS=OFF -DJFETCH_RUNTIME_ONLY=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_runtime >/dev/null
ours="$build/tests/bench/bench_runtime"

# Tokio side: cargo reads tokio/.cargo/config.toml (Debian's crates,
# offline) only when run from that directory.  Cargo.lock is regenerated:
# its format depends on the cargo version.
log "building tokio-bench (cargo $(cargo --version | cut -d' ' -f2), release)"
(cd "$here/tokio" && rm -f Cargo.lock && cargo build --release --quiet)
tokio="$here/tokio/target/release/tokio-bench"

# ---- runs ----------------------------------------------------------------------
raw=$(mktemp)
trap 'rm -f "$raw" "$raw.out"' EXIT

# run SIDE BINARY SCENARIO: appends "side scenario metric value" lines
run() {
  local side=$1 bin=$2 sc=$3 rc=0
  timeout "$RUN_TIMEOUT" "$bin" "$sc" >"$raw.out" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    log "FAILED: $bin $sc exited with status $rc$( [ $rc = 124 ] &&
      echo " (timed out after ${RUN_TIMEOUT}s)"). Its output:"
    cat "$raw.out" >&2
    exit 1
  fi
  awk -v side="$side" -v sc="$sc" '
    $1 == sc && NF == 3 && $3 ~ /^-?[0-9.]+$/ { print side, $1, $2, $3 }' \
    "$raw.out" >>"$raw"
}

scenarios=(a a2 b c d)
for rep in $(seq 1 "$REPS"); do
  for sc in "${scenarios[@]}"; do
    # alternate which side goes first
    if [ $((rep % 2)) -eq 1 ]; then
      run ours "$ours" "$sc"; run tokio "$tokio" "$sc"
    else
      run tokio "$tokio" "$sc"; run ours "$ours" "$sc"
    fi
  done
  log "repetition $rep/$REPS done"
done

# ---- table ----------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END {
  if (NR == 0) { print "nan"; exit }
  if (NR % 2) printf "%.1f\n", v[(NR + 1) / 2]
  else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
values() { awk -v s="$1" -v sc="$2" -v m="$3" \
  '$1 == s && $2 == sc && $3 == m { printf "%s%s", sep, $4; sep = " " }' "$raw"; }

declare -A title=(
  [a]="a: 1M tasks, handles kept, join in order"
  [a2]="a2: 1M tasks through a JoinSet"
  [b]="b: 1M tasks pending on a Notify"
  [c]="c: 100k tasks, every 10th panics"
  [d]="d: ping-pong, 2 channels of cap 1"
)
declare -A mname=(
  [ns_per_task]="ns per task"
  [bytes_per_finished_task]="RSS bytes per finished task held by its handle"
  [bytes_per_pending_task]="RSS bytes per pending task"
  [ns_per_abort_join]="ns per abort + join"
  [ns_per_round_trip]="ns per round trip"
)
metrics=("a ns_per_task" "a bytes_per_finished_task" "a2 ns_per_task"
         "b bytes_per_pending_task" "b ns_per_abort_join" "c ns_per_task"
         "d ns_per_round_trip")

table=$(
  echo "| scenario | metric | jfetch rt | tokio | ratio ours/tokio |"
  echo "| --- | --- | ---: | ---: | ---: |"
  for sm in "${metrics[@]}"; do
    read -r sc m <<<"$sm"
    o=$(values ours "$sc" "$m" | tr ' ' '\n' | median)
    t=$(values tokio "$sc" "$m" | tr ' ' '\n' | median)
    r=$(awk -v o="$o" -v t="$t" 'BEGIN {
      if (t + 0 == 0 || o == "nan" || t == "nan") print "n/a"
      else printf "%.2f\n", o / t }')
    echo "| ${title[$sc]} | ${mname[$m]} | $o | $t | $r |"
  done
)
runs=$(
  for sm in "${metrics[@]}"; do
    read -r sc m <<<"$sm"
    echo "| $sc | $m | $(values ours "$sc" "$m") | $(values tokio "$sc" "$m") |"
  done
)
elapsed=$(( $(date +%s) - start_s ))

notes="Medians of $REPS runs per cell, one process per run, the two programs
alternating. 2 worker threads on both sides; every scenario runs inside
block_on, so all spawns come from the main thread. Lower is better for every
metric: a ratio below 1 means the jfetch runtime is faster or smaller.
RSS figures are (RSS at the measuring point - RSS before spawning) / N and
include the handle array (8 bytes per task) on both sides. In a, the time
covers spawning, waiting until every task has finished, and joining; only
the RSS read is left out. The Tokio program installs a no-op panic hook in
c, so its 10,000 panic messages are not printed (rt_panic prints nothing).
jfetch rt: bench_runtime, gcc -O2 (RelWithDebInfo). tokio: Tokio 1.24 from
Debian's crates, cargo release profile, opt-level 3."

echo
echo "$table"
echo
echo "$notes"
echo
echo "total run time: ${elapsed}s (builds included)"

mkdir -p "$results"
{
  echo "# Runtime benchmark: jfetch rt vs Tokio"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "- command: \`$cmdline\`"
  echo "- nproc: $(nproc)"
  echo "- cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "- tokio built with: $(cargo --version), $(rustc --version)"
  echo "- total run time: ${elapsed}s (builds included)"
  echo
  echo "$table"
  echo
  echo "$notes"
  echo
  echo "## Every run"
  echo
  echo "| scenario | metric | jfetch rt | tokio |"
  echo "| --- | --- | --- | --- |"
  echo "$runs"
} >"$results/runtime.md"
log "table written to ${results#"$root"/}/runtime.md"
