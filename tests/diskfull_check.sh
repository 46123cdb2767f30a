#!/usr/bin/env bash
# A full disk fails the jobs that hit it, as io application errors; the
# others go on, and no partial file is left at a final path.
#   diskfull_check.sh JFETCH FAULTSRV
# Where a private mount namespace can be made (root, unshare), the output
# directory is a 256 KiB tmpfs and the error is a real ENOSPC.  Always, the
# process's file-size limit (ulimit -f) stands in for it too: the write
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

# verify HOW CODE DIR: exit 1; the small files ok and left in DIR, the
# big one an io error with no file (DIR-recs.json, DIR-left.txt)
verify() {
  [ "$2" = 1 ] || { echo "diskfull_check ($1): exit $2, expected 1"; return 1; }
  python3 - "$1" "$3" <<'PY'
import json, sys
how, d = sys.argv[1], sys.argv[2]
recs = {r["url"].rsplit("/", 1)[1]: r
        for r in map(json.loads, open(d + "-recs.json"))}
bad = [n for n in ("s1.bin", "s2.bin", "s3.bin", "s4.bin")
       if recs[n]["outcome"] != "ok" or recs[n]["bytes"] != 10240]
big = recs["big.bin"]
if big["outcome"] != "app_error" or big["error_kind"] != "io" or big["path"]:
    bad.append("big.bin: %r" % big)
left = sorted(open(d + "-left.txt").read().split())
if left != ["s1.bin", "s2.bin", "s3.bin", "s4.bin"]:
    bad.append("files left in %s/: %r" % (d, left))
print("diskfull_check (%s): %s" % (how, bad or
      "small files ok, big.bin: io: " + big["error"]))
sys.exit(1 if bad else 0)
PY
}

status=0
if unshare -m true 2>/dev/null; then
  # the tmpfs goes with the namespace: what is left on it is listed
  # before it goes
  mkdir enospc
  set +e
  unshare -m sh -c 'mount -t tmpfs -o size=256k tmpfs enospc || exit 99
    "$0" -q -j 1 -i list.txt -o enospc --json > enospc-recs.json
    c=$?; ls -A enospc > enospc-left.txt; exit $c' "$jfetch"
  code=$?
  set -e
  verify "ENOSPC on a 256 KiB tmpfs" "$code" enospc || status=1
else
  echo "diskfull_check: no private mount namespace here: ENOSPC case skipped"
fi
# always: without SIGXFSZ ignored, the write past the limit kills jfetch
set +e
(ulimit -f 256; exec "$jfetch" -q -j 1 -i list.txt -o efbig --json) \
  > efbig-recs.json
code=$?
ls -A efbig > efbig-left.txt
set -e
verify "EFBIG from ulimit -f" "$code" efbig || status=1
[ $status = 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $status
