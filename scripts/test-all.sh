#!/usr/bin/env bash
# Installs what is missing, checks the formatting, builds, and runs the
# whole test suite:
#   0. size budgets (scripts/budget_check.py: functions <= 80 lines, files
#      <= 800, unless a /* budget: <reason> */ comment says why);
#   1. gcc, warnings as errors: every test (runtime, CLI, integration);
#   2. gcc Debug (assert() on: the runtime's state-machine and misuse
#      checks, test_rt_misuse): every test again;
#   3. clang + ASan/UBSan: the runtime and CLI tests (unit, hostile input,
#      docs) and the allocation-failure walks (label fault), so memory
#      errors and leaks in the CLI are caught too;
#   4. clang + TSan: the runtime tests;
#   5. libFuzzer: the job parsers and file naming, 30 s each.
# Usage: scripts/test-all.sh   (from anywhere; build dirs go in ./build*)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)
start=$(date +%s)

step() { printf '\n=== %s (%ss)\n' "$*" $(( $(date +%s) - start )); }

step "format: clang-format --dry-run -Werror"
bash scripts/format.sh --check

step "budgets: function and file length"
python3 scripts/budget_check.py --self-test
python3 scripts/budget_check.py

step "build: gcc -Werror"
cmake -S . -B build -DJFETCH_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
step "tests: all"
(cd build && ctest --output-on-failure -j1)

step "build: gcc -Werror, Debug (asserts on)"
cmake -S . -B build-debug -DCMAKE_BUILD_TYPE=Debug -DJFETCH_WERROR=ON \
  -DJFETCH_BENCH=OFF >/dev/null
cmake --build build-debug -j"$jobs"
step "tests: all, with asserts on"
(cd build-debug && ctest --output-on-failure -j1)

step "build: clang -Werror -fsanitize=address,undefined (runtime and CLI)"
cmake -S . -B build-asan -DCMAKE_C_COMPILER=clang -DJFETCH_WERROR=ON \
  -DJFETCH_SANITIZE=address,undefined -DJFETCH_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-asan -j"$jobs"
step "tests: runtime and CLI (unit, hostile input, docs) under ASan+UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
   ctest --output-on-failure -L "runtime|cli|fault" -j1)

step "build: clang -Werror -fsanitize=thread (runtime only)"
cmake -S . -B build-tsan -DCMAKE_C_COMPILER=clang -DJFETCH_WERROR=ON \
  -DJFETCH_SANITIZE=thread -DJFETCH_RUNTIME_ONLY=ON -DJFETCH_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-tsan -j"$jobs"
step "tests: runtime under TSan"
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
   ctest --output-on-failure -L runtime -j1)

step "fuzz: job parsers and file naming, 30 s each (clang libFuzzer)"
bash scripts/fuzz.sh 30

step "all tests passed"
