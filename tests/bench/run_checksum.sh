#!/usr/bin/env bash
# What --checksum costs: one command, not part of the test run.
#
#   tests/bench/run_checksum.sh              # RUNS=5, a 256 MiB file
#   RUNS=9 SIZE_MIB=1024 tests/bench/run_checksum.sh
#   COMPARE=/path/to/other/jfetch tests/bench/run_checksum.sh
#
# COMPARE adds the same four ways for another jfetch binary (another
# commit's build), alternating with this one's.
# Builds jfetch (Release) in build-bench-checksum/, writes SIZE_MIB of
# random bytes on tmpfs (/dev/shm), serves them with its own nginx
# (tests/bench/peers/nginx.conf.in: 127.0.0.1, a free port, one worker,
# stopped by pid), and downloads the file to tmpfs RUNS times each way:
# without a digest, with --checksum sha256=, sha512= and md5= (the right
# digests, so every run must end with exit 0), the ways alternating in a
# rotating order so that drift on a shared machine falls on all of them.
# The references hash the same file from tmpfs: sha256sum, sha512sum,
# md5sum and openssl dgst.  Medians of wall and CPU (user+sys) time go to
# stdout and to tests/bench/results/checksum.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${RUNS:-5}
size_mib=${SIZE_MIB:-256}
log() { echo "bench: $*" >&2; }

bash "$root/scripts/deps.sh" --only build-essential cmake pkg-config \
  libcurl4-openssl-dev libssl-dev libev-dev libcjson-dev openssl time \
  python3 coreutils
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || bash "$root/scripts/deps.sh" --only nginx-light

build="$root/build-bench-checksum"
log "building jfetch (Release, $build)"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DJFETCH_TESTS=OFF \
  -DJFETCH_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target jfetch >/dev/null
jfetch="$build/src/jfetch"

tmp=$(mktemp -d /dev/shm/jfetch-bench-checksum.XXXXXX)
ngx=
cleanup() {
  if [ -n "$ngx" ]; then
    kill "$ngx" 2>/dev/null || true
    wait "$ngx" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
chmod 755 "$tmp" # nginx workers may run as nobody
mkdir -p "$tmp/www" "$tmp/ng" "$tmp/out"
log "writing $size_mib MiB of random bytes"
head -c "$((size_mib * 1048576))" /dev/urandom >"$tmp/www/big.bin"
file="$tmp/www/big.bin"
sha256=$(sha256sum "$file" | cut -d' ' -f1)
sha512=$(sha512sum "$file" | cut -d' ' -f1)
md5=$(md5sum "$file" | cut -d' ' -f1)

. "$here/../lib/nginx.sh"
nginx_start "$nginx" "$tmp/www" "$tmp/ng"
url=$base/big.bin
log "nginx pid $ngx at $url"

# ways: name and the arguments after jfetch (or a reference command)
names=(plain sha256 sha512 md5)
declare -A cmd=(
  [plain]="$jfetch -q -o $tmp/out $url"
  [sha256]="$jfetch -q -o $tmp/out --checksum sha256=$sha256 $url"
  [sha512]="$jfetch -q -o $tmp/out --checksum sha512=$sha512 $url"
  [md5]="$jfetch -q -o $tmp/out --checksum md5=$md5 $url"
  [ref_sha256sum]="sha256sum $file"
  [ref_sha512sum]="sha512sum $file"
  [ref_md5sum]="md5sum $file"
  [ref_openssl_sha256]="openssl dgst -sha256 $file"
  [ref_openssl_sha512]="openssl dgst -sha512 $file"
  [ref_openssl_md5]="openssl dgst -md5 $file"
)
if [ -n "${COMPARE:-}" ]; then
  for w in plain sha256 sha512 md5; do
    names+=("cmp_$w")
    cmd[cmp_$w]="${cmd[$w]/#$jfetch/$COMPARE}"
  done
fi
refs=(ref_sha256sum ref_openssl_sha256 ref_sha512sum ref_openssl_sha512
  ref_md5sum ref_openssl_md5)
declare -A walls cpus

# One timed run of way $1: appends its wall and CPU seconds.
run_one() {
  local t0 t1 rc=0
  rm -f "$tmp/out/big.bin"
  t0=$(date +%s%N)
  /usr/bin/time -f '%U %S' -o "$tmp/time" ${cmd[$1]} >/dev/null || rc=$?
  t1=$(date +%s%N)
  [ "$rc" = 0 ] || { echo "bench: $1 exited $rc" >&2; exit 1; }
  case $1 in ref_*) ;; *) cmp -s "$file" "$tmp/out/big.bin" ||
    { echo "bench: $1: the download differs" >&2; exit 1; } ;; esac
  walls[$1]+="$(( (t1 - t0) / 1000 )) "
  cpus[$1]+="$(awk '{printf "%d", ($1 + $2) * 1e6}' "$tmp/time") "
}

run_one plain # warm-up (page cache, nginx's open file cache), not counted
walls[plain]= cpus[plain]=
for ((r = 0; r < runs; r++)); do
  for ((k = 0; k < ${#names[@]}; k++)); do
    run_one "${names[$(((k + r) % ${#names[@]}))]}"
  done
  for w in "${refs[@]}"; do run_one "$w"; done
  log "round $((r + 1))/$runs done"
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
secs() { awk -v u="$1" 'BEGIN {printf "%.3f", u / 1e6}'; }

plain_wall=$(echo "${walls[plain]}" | median)
out="$here/results/checksum.md"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD -- src runtime 2>/dev/null || commit="$commit+dirty"
{
  echo "# --checksum: what verifying costs"
  echo
  echo "\`tests/bench/run_checksum.sh\` (RUNS=$runs, SIZE_MIB=$size_mib), jfetch $commit (Release),"
  echo "$(date -u +%Y-%m-%d), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')),"
  echo "$(openssl version | cut -d' ' -f1-2), $("$nginx" -v 2>&1 | cut -d' ' -f3)."
  echo "One $size_mib MiB file from nginx on 127.0.0.1 (tmpfs) to tmpfs; medians of $runs"
  echo "runs, the jfetch ways alternating in a rotating order; CPU is user+sys of the"
  echo "process. The references hash the same file from tmpfs. Load average at the"
  echo "end: $(cut -d' ' -f1-3 /proc/loadavg) (wall far above CPU for the references"
  echo "means other work shared the cores)."
  [ -n "${COMPARE:-}" ] && echo "COMPARE is $COMPARE."
  echo
  echo "| command | wall (s) | CPU (s) | wall / plain |"
  echo "|---|---:|---:|---:|"
  for w in "${names[@]}" "${refs[@]}"; do
    mw=$(echo "${walls[$w]}" | median)
    mc=$(echo "${cpus[$w]}" | median)
    case $w in
      plain) label="jfetch" ;;
      ref_*) label="${w#ref_}"; label="${label/openssl_/openssl dgst -}" ;;
      cmp_plain) label="COMPARE" ;;
      cmp_*) label="COMPARE --checksum ${w#cmp_}=HEX" ;;
      *) label="jfetch --checksum $w=HEX" ;;
    esac
    ratio=$(awk -v a="$mw" -v b="$plain_wall" 'BEGIN {printf "%.2f", a / b}')
    echo "| \`$label\` | $(secs "$mw") | $(secs "$mc") | ${ratio}x |"
  done
} | tee "$out"
log "wrote $out"
