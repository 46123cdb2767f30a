#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a
# bounded time from its seed corpus (tests/fuzz/corpus/NAME), copied to a
# scratch directory so runs never write into the repository.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 30)
# Exit status 0 if no target crashed; a crash leaves its reproducer in
# build-fuzz/crashes/ and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DJFETCH_FUZZ=ON \
  -DJFETCH_SANITIZE=address,undefined -DJFETCH_WERROR=ON -DJFETCH_TESTS=OFF \
  -DJFETCH_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_jobs fuzz_naming
mkdir -p build-fuzz/crashes
status=0
for t in jobs naming; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/"$t"/* "$work"/
  echo "fuzz: fuzz_$t for ${secs}s" >&2
  if ! ASAN_OPTIONS=detect_leaks=1 build-fuzz/tests/fuzz/fuzz_"$t" \
      -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix=build-fuzz/crashes/"$t"- -print_final_stats=1 \
      "$work" 2>build-fuzz/fuzz_"$t".log; then
    status=1
    tail -40 build-fuzz/fuzz_"$t".log >&2
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs" \
    build-fuzz/fuzz_"$t".log >&2 || true
  rm -rf "$work"
done
exit $status
