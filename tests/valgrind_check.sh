#!/usr/bin/env bash
# The main paths under valgrind: no leak of any kind, no memory error.
#   valgrind_check.sh JFETCH FAULTSRV
# Scenarios: files with a retry and a JUnit report; bodies to stdout
# (spooled); --check; --deadline cancelling a hung job; a panicking job.
# Skipped (exit 0 with a message) when valgrind is not installed.
set -euo pipefail
jfetch=$1 faultsrv=$2
if ! command -v valgrind >/dev/null; then
  echo "valgrind_check: valgrind not installed, skipped"
  exit 0
fi
. "$(dirname "$0")/lib/faultsrv.sh"
faultsrv_start "$faultsrv"
printf '%s\n' "$u/bytes/1000/a.bin" "$u/status/404/b.bin" \
  "$u/faulty/vg/1/reset/300/bytes/2000/c.bin" "$u/bytes/5000/d.bin" > l.txt
vg=(valgrind -q --leak-check=full --show-leak-kinds=all
    --errors-for-leak-kinds=all --error-exitcode=99)
fail=0
check() { # name, expected exit, command...
  local name=$1 want=$2; shift 2
  set +e
  "$@" > out.txt 2> err.txt
  local got=$?
  set -e
  if [ "$got" != "$want" ]; then
    echo "valgrind_check: $name: exit $got, expected $want"
    grep -E "==[0-9]+==" err.txt | head -30
    fail=1
  else
    echo "valgrind_check: $name: clean"
  fi
}
check files 1 "${vg[@]}" "$jfetch" -i l.txt -o o1 --retries 2 --retry-delay 0.01 \
  --json --report junit=r.xml
check stdout 0 "${vg[@]}" "$jfetch" -O - "$u/bytes/100" "$u/bytes/200"
check check 0 "${vg[@]}" "$jfetch" --check -i l.txt -o o2
check deadline 3 env JFETCH_HANG_JOB=1 "${vg[@]}" "$jfetch" -i l.txt -o o3 \
  --deadline 2 -q
check panic 3 env JFETCH_PANIC_JOB=0 "${vg[@]}" "$jfetch" -i l.txt -o o4 -q
if [ $fail = 0 ]; then echo "5 passed, 0 failed"; else echo "valgrind_check: FAILED"; fi
exit $fail
