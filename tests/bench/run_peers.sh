#!/usr/bin/env bash
# jfetch against its peers: one command, not part of the test run.
#
#   tests/bench/run_peers.sh              # RUNS=3 repetitions (~20-25 min)
#   QUICK=1 tests/bench/run_peers.sh      # one repetition, no 1M-job list
#   RUNS=5 WORKLOADS=a,b TOOLS=jfetch,curl,wget2 tests/bench/run_peers.sh
#
# Installs what is missing from Debian (nginx-light, curl, aria2, wget2,
# wrk, time, librust-tokio-dev, librust-reqwest-dev, the build tools),
# builds jfetch (Release, -O3) in build-bench-peers/, faultsrv in
# build-bench-peers-srv/ (it is a test target: only configured with
# JFETCH_TESTS=ON, so it gets a tree of its own) and reqwest-fetch
# (tests/bench/reqwest, cargo offline from Debian's crates), then runs
# peers/driver.py: data on tmpfs, its own nginx on 127.0.0.1 (free port),
# every tool on every workload with concurrency 64, every output verified,
# medians of wall, CPU and peak RSS.  Tables go to stdout and to
# tests/bench/results/peers.md (peers-quick.md with QUICK=1, so that a
# fast check does not overwrite the full tables).  See peers/driver.py for the workloads and
# the environment variables (RUNS, QUICK, RUNS_1M, CONC, TOOLS, WORKLOADS,
# RUN_TIMEOUT, SKIP_1M_TOOLS, KEEP).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cmdline="tests/bench/run_peers.sh${*:+ $*}"
for v in QUICK RUNS RUNS_1M CONC TOOLS WORKLOADS SKIP_1M_TOOLS; do
  [ -n "${!v:-}" ] && cmdline="$v=${!v} $cmdline"
done

log() { echo "bench: $*" >&2; }

# ---- dependencies ------------------------------------------------------------
export PATH="$HOME/.cargo/bin:$PATH"
pkgs=(build-essential cmake pkg-config libcurl4-openssl-dev libev-dev
      curl aria2 wget2 wrk time python3 findutils
      librust-tokio-dev librust-reqwest-dev)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || pkgs+=(nginx-light)
command -v cargo >/dev/null 2>&1 || pkgs+=(cargo)
bash "$root/scripts/deps.sh" --only "${pkgs[@]}"
nginx=$(command -v nginx || echo /usr/sbin/nginx)

# ---- build -------------------------------------------------------------------
build="$root/build-bench-peers"
log "building jfetch (Release, $build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DJFETCH_TESTS=OFF \
  -DJFETCH_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target jfetch >/dev/null

srvbuild="$root/build-bench-peers-srv"
log "building faultsrv (Release, $srvbuild)"
cmake -S "$root" -B "$srvbuild" -DCMAKE_BUILD_TYPE=Release -DJFETCH_TESTS=ON \
  -DJFETCH_BENCH=OFF >/dev/null
cmake --build "$srvbuild" -j"$(nproc)" --target faultsrv >/dev/null

# cargo reads reqwest/.cargo/config.toml (Debian's crates, offline) only
# when run from that directory.  Cargo.lock is regenerated: its format
# depends on the cargo version.
log "building reqwest-fetch (cargo $(cargo --version | cut -d' ' -f2), release, offline)"
(cd "$here/reqwest" && rm -f Cargo.lock && cargo build --release --quiet)

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- src runtime 2>/dev/null || commit="$commit+dirty"

results_name=peers.md
[ "${QUICK:-}" = 1 ] && results_name=peers-quick.md

# ---- run -----------------------------------------------------------------------
exec python3 "$here/peers/driver.py" \
  --jfetch "$build/src/jfetch" \
  --faultsrv "$srvbuild/tests/server/faultsrv" \
  --reqwest "$here/reqwest/target/release/reqwest-fetch" \
  --nginx "$nginx" \
  --results "$here/results/$results_name" \
  --cmdline "$cmdline" \
  --jfetch-commit "$commit"
