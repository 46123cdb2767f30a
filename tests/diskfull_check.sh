#!/usr/bin/env bash
# A full disk fails the jobs that hit it, as io application errors; the
# others go on, and no partial file is left at a final path.
#   diskfull_check.sh JFETCH FAULTSRV
# Where a private mount namespace can be made (root, unshare), the output
# directory is a 256 KiB tmpfs and the error is a real ENOSPC.  Otherwise
# the process's file-size limit (ulimit -f) stands in for it: the write
# beyond it fails with EFBIG (jfetch ignores SIGXFSZ, which would otherwise
# kill the process).
set -euo pipefail
jfetch=$1 faultsrv=$2
. "$(dirname "$0")/lib/faultsrv.sh"
faultsrv_start "$faultsrv"
# 4 small files (40 KiB in all) before 1 large (1 MiB), one at a time, so
# the small ones all fit and the large one does not
{ for i in 1 2 3 4; do echo "$u/bytes/10240/s$i.bin"; done
  echo "$u/bytes/1048576/big.bin"; } > list.txt

if unshare -m true 2>/dev/null; then
  # the tmpfs goes with the namespace: what is left on it is listed
  # before it goes
  mkdir out
  set +e
  unshare -m sh -c 'mount -t tmpfs -o size=256k tmpfs out || exit 99
    "$0" -q -j 1 -i list.txt -o out --json > recs.json
    c=$?; ls -A out > left.txt; exit $c' "$jfetch"
  code=$?
  set -e
  how="ENOSPC on a 256 KiB tmpfs"
else
  set +e
  (ulimit -f 256; exec "$jfetch" -q -j 1 -i list.txt -o out --json) > recs.json
  code=$?
  ls -A out > left.txt
  set -e
  how="EFBIG from ulimit -f"
fi
[ "$code" = 1 ] || { echo "diskfull_check: exit $code, expected 1"; exit 1; }
python3 - "$how" <<'PY'
import json, os, sys
recs = {r["url"].rsplit("/", 1)[1]: r
        for r in map(json.loads, open("recs.json"))}
bad = [n for n in ("s1.bin", "s2.bin", "s3.bin", "s4.bin")
       if recs[n]["outcome"] != "ok" or recs[n]["bytes"] != 10240]
big = recs["big.bin"]
if big["outcome"] != "app_error" or big["error_kind"] != "io" or big["path"]:
    bad.append("big.bin: %r" % big)
left = sorted(open("left.txt").read().split())
if left != ["s1.bin", "s2.bin", "s3.bin", "s4.bin"]:
    bad.append("files left in out/: %r" % left)
print("diskfull_check (%s): %s" % (sys.argv[1], bad or
      "small files ok, big.bin: io: " + big["error"]))
sys.exit(1 if bad else 0)
PY
echo "1 passed, 0 failed"
