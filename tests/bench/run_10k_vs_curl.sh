#!/usr/bin/env bash
# Issue 3's side-by-side figure: the 10,000-job fetch of the integration
# case 0068 (sizes 0..64 KiB from faultsrv /bytes, one file a job, -j 64)
# done by jfetch and by curl -Z --parallel-max 64, alternating, on tmpfs.
#   tests/bench/run_10k_vs_curl.sh [JFETCH [FAULTSRV]]   (RUNS=3)
# Defaults: the trees tests/bench/run_peers.sh builds (Release).  Prints
# wall, CPU (user+sys) and peak RSS of each run, after checking that every
# file is there with its size.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
jfetch=${1:-$root/build-bench-peers/src/jfetch}
faultsrv=${2:-$root/build-bench-peers-srv/tests/server/faultsrv}
runs=${RUNS:-3}
for b in "$jfetch" "$faultsrv"; do
  [ -x "$b" ] || { echo "not built: $b (run tests/bench/run_peers.sh once, or pass paths)" >&2; exit 2; }
done
command -v curl >/dev/null || bash "$root/scripts/deps.sh" --only curl time

# scratch dir and faultsrv (stopped by pid on exit), on tmpfs
. "$root/tests/lib/faultsrv.sh"
TMPDIR=/dev/shm faultsrv_start "$faultsrv"
python3 - "$u" <<'PY'
import random, sys
r = random.Random(10000)
with open("list.txt", "w") as l, open("cfg.txt", "w") as c, open("sizes.txt", "w") as s:
    for i in range(10000):
        n = r.randint(0, 65536)
        url = f"{sys.argv[1]}/bytes/{n}/f{i}.bin"
        l.write(url + "\n"); c.write(f'url = "{url}"\n'); s.write(f"f{i}.bin {n}\n")
PY

check() { # dir: every file present with its size, nothing else
  python3 - "$1" <<'PY'
import os, sys
d = sys.argv[1]
want = dict(l.split() for l in open("sizes.txt"))
got = {n: str(os.path.getsize(os.path.join(d, n))) for n in os.listdir(d)}
if got != want:
    sys.exit(f"verification failed in {d}: {len(got)} files")
PY
}

run() { # label, command...
  rm -rf o && mkdir o
  local t
  t=$( { /usr/bin/time -f '%e %U %S %M' "${@:2}" 2>&1 >/dev/null; } | tail -1)
  check o
  awk -v l="$1" '{ printf "%-8s wall %5.2f s  cpu %5.2f s  peak RSS %6.1f MiB\n",
    l, $1, $2 + $3, $4 / 1024 }' <<<"$t"
}

for rep in $(seq "$runs"); do
  echo "run $rep/$runs"
  run jfetch "$jfetch" -q -j 64 -i list.txt -o o
  run "curl -Z" curl -Z --parallel-max 64 -s -S --no-progress-meter --fail \
    --output-dir o --remote-name-all -K cfg.txt
done
