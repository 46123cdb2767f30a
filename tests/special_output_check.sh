#!/usr/bin/env bash
# -O onto what is not a regular file, and answers that carry no body.
#   special_output_check.sh JFETCH FAULTSRV
# A device, FIFO or socket given with -O is written in place (no .part, no
# rename over it); a symbolic link is written through (the link stays, its
# target gets the body via TARGET.part beside it); a 304 (or 204) keeps the
# file already at the final path, content and mtime, and removes nothing.
# The device is made with mknod when root can; a link to /dev/null stands
# in for it always.
set -uo pipefail
jfetch=$1 faultsrv=$2
. "$(dirname "$0")/lib/faultsrv.sh"
faultsrv_start "$faultsrv"
fails=0 checks=0
pids=()
stop_pids() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap 'stop_pids; faultsrv_cleanup' EXIT

check() { # NAME COMMAND...: the command must succeed
  local name=$1
  shift
  checks=$((checks + 1))
  "$@" || { echo "FAIL: $name"; fails=$((fails + 1)); }
}
# rec FILE KEY: a field of the one JSON record in FILE
rec() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2" 2>/dev/null; }
# only DIR NAMES...: DIR holds exactly these names
only() { [ "$(cd "$1" && ls -A | sort | tr '\n' ' ')" = "$2 " ]; }
# background COMMAND...: runs it, its pid in $bg (stopped at exit)
background() { "$@" & bg=$!; pids+=("$bg"); }
# waitfor PID SECONDS: PID ended within SECONDS
waitfor() {
  for _ in $(seq $(($2 * 20))); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.05
  done
  return 1
}

"$jfetch" -q -O ref.bin "$u/bytes/300000/x.bin" ||
  { echo "FAIL: reference fetch"; exit 1; }

# ---- character devices --------------------------------------------------
mkdir dev
if [ "$(id -u)" = 0 ]; then
  check "mknod" mknod dev/null c 1 3
  "$jfetch" -q --json -O dev/null "$u/bytes/100000/x.bin" > dev.json
  check "device: exit 0" [ $? = 0 ]
  check "device: still a character device" [ -c dev/null ]
  check "device: nothing else in its dir" only dev null
  check "device: record bytes" [ "$(rec dev.json bytes)" = 100000 ]
  rm dev/null
fi
ln -s /dev/null dev/link
"$jfetch" -q -O dev/link "$u/bytes/1000/x.bin"
check "link to /dev/null: exit 0" [ $? = 0 ]
check "/dev/null is still a character device" [ -c /dev/null ]
check "link to /dev/null stays a link" [ -L dev/link ]
check "link to /dev/null: nothing else" only dev link
# --skip-existing does not take a device for an earlier download, and
# --continue does not resume one
"$jfetch" -q -c --skip-existing --json -O dev/link "$u/bytes/10/x" > sk.json
check "device --skip-existing -c: fetched" [ "$(rec sk.json skipped)" = False ]
check "device --skip-existing -c: 10 bytes" [ "$(rec sk.json bytes)" = 10 ]

# ---- FIFOs ----------------------------------------------------------------
mkdir fifo
mkfifo fifo/p
background sh -c 'exec cat fifo/p > got1'
reader=$bg
"$jfetch" -q -c -O fifo/p "$u/bytes/300000/x.bin"
check "fifo: exit 0" [ $? = 0 ]
check "fifo: reader done" waitfor "$reader" 10
check "fifo: reader got the body" cmp -s got1 ref.bin
check "fifo: still a FIFO" [ -p fifo/p ]
check "fifo: nothing else in its dir" only fifo p
# the reader comes after jfetch has started: jfetch waits for it
background "$jfetch" -q -O fifo/p "$u/bytes/300000/x.bin"
writer=$bg
sleep 0.5
check "fifo: jfetch waits for a reader" kill -0 "$writer" 2>/dev/null
cat fifo/p > got2
wait "$writer"
check "fifo, late reader: exit 0" [ $? = 0 ]
check "fifo, late reader: got the body" cmp -s got2 ref.bin
# no reader ever: the wait ends with an interrupt (exit 130), promptly
background "$jfetch" -q -O fifo/p "$u/bytes/10/x.bin"
writer=$bg
sleep 0.5
kill -INT "$writer"
check "fifo, no reader: SIGINT ends the wait" waitfor "$writer" 5
wait "$writer"
check "fifo, no reader: exit 130" [ $? = 130 ]
check "fifo, no reader: still a FIFO, alone" test -p fifo/p -a "$(ls -A fifo)" = p
# a 503 first (its page is not written), then the body: retried
background sh -c 'exec cat fifo/p > got3'
reader=$bg
"$jfetch" -q --retries 2 --retry-delay 0.01 -O fifo/p \
  "$u/flaky/sp1/1/503/bytes/300000/x.bin"
check "fifo, 503 then 200: exit 0" [ $? = 0 ]
check "fifo, 503 then 200: reader done" waitfor "$reader" 10
check "fifo, 503 then 200: the body once" cmp -s got3 ref.bin
# cut off mid-body: not retried, the reader has a prefix and nothing more
background sh -c 'exec cat fifo/p > got4'
reader=$bg
"$jfetch" -q --retries 3 --retry-delay 0.01 --json -O fifo/p \
  "$u/truncate/100000/bytes/300000/x.bin" > cut.json
check "fifo, cut off: exit 1" [ $? = 1 ]
check "fifo, cut off: one attempt" [ "$(rec cut.json attempts)" = 1 ]
check "fifo, cut off: reader done" waitfor "$reader" 10
check "fifo, cut off: a prefix, no more" cmp -s got4 <(head -c 100000 ref.bin)
check "fifo, cut off: still a FIFO, alone" only fifo p
# a checksum mismatch is an error; the FIFO stays
printf '%s\n' "{\"url\": \"$u/bytes/1000/x.bin\", \"sha256\": \"$(printf '0%.0s' $(seq 64))\"}" > sum.jsonl
background sh -c 'exec cat fifo/p > /dev/null'
reader=$bg
"$jfetch" -q --json --jobs sum.jsonl -O fifo/p > sum.json
check "fifo, bad sha256: exit 1" [ $? = 1 ]
check "fifo, bad sha256: checksum" [ "$(rec sum.json error_kind)" = checksum ]
check "fifo, bad sha256: reader done" waitfor "$reader" 10
check "fifo, bad sha256: still a FIFO, alone" only fifo p

# ---- Unix sockets ------------------------------------------------------------
mkdir sk
background python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind("sk/s")
s.listen(1)
open("sk.ready", "w").close()
c, _ = s.accept()
with open("got5", "wb") as f:
    while True:
        b = c.recv(65536)
        if not b:
            break
        f.write(b)'
listener=$bg
for _ in $(seq 100); do [ -e sk.ready ] && break; sleep 0.05; done
"$jfetch" -q -O sk/s "$u/bytes/300000/x.bin"
check "socket: exit 0" [ $? = 0 ]
check "socket: listener done" waitfor "$listener" 10
check "socket: it got the body" cmp -s got5 ref.bin
check "socket: still a socket, alone" test -S sk/s -a "$(ls -A sk)" = s

# ---- symbolic links --------------------------------------------------------
mkdir ln ln/other
echo old > ln/target.bin
ln -s target.bin ln/link
"$jfetch" -q -O ln/link "$u/bytes/300000/x.bin"
check "link: exit 0" [ $? = 0 ]
check "link: still a link" [ -L ln/link ]
check "link: to the same target" [ "$(readlink ln/link)" = target.bin ]
check "link: the target has the body" cmp -s ln/target.bin ref.bin
check "link: nothing else left" only ln "link other target.bin"
# a chain of links into another directory, ending at nothing yet
ln -s other/hop ln/chain
ln -s ../new.bin ln/other/hop
"$jfetch" -q -O ln/chain "$u/bytes/300000/x.bin"
check "chain: exit 0" [ $? = 0 ]
check "chain: links stay" test -L ln/chain -a -L ln/other/hop
check "chain: the last target has the body" cmp -s ln/new.bin ref.bin
check "chain: nothing else left" only ln "chain link new.bin other target.bin"
check "chain: nothing else left (other)" only ln/other hop
# a failure leaves the target as it was, and no .part beside it
"$jfetch" -q -O ln/link "$u/status/404/x.bin"
check "link, 404: exit 1" [ $? = 1 ]
check "link, 404: the target untouched" cmp -s ln/target.bin ref.bin
check "link, 404: nothing else left" only ln "chain link new.bin other target.bin"
# --continue resumes the .part beside the link's target
mkdir ln2
ln -s t.bin ln2/l
head -c 100000 ref.bin > ln2/t.bin.part
"$jfetch" -v -c -O ln2/l "$u/bytes/300000/x.bin" 2> resume.err
check "link -c: exit 0" [ $? = 0 ]
check "link -c: the rest asked for (206)" grep -q "HTTP 206" resume.err
check "link -c: the target has the body" cmp -s ln2/t.bin ref.bin
check "link -c: link and target only" only ln2 "l t.bin"
# --skip-existing looks at the link's target
"$jfetch" -q --skip-existing --json -O ln/link "$u/bytes/10/x" > skl.json
check "link --skip-existing: skipped" [ "$(rec skl.json skipped)" = True ]
check "link --skip-existing: the target's size" [ "$(rec skl.json bytes)" = 300000 ]

# ---- 304 and 204 keep what is there --------------------------------------
mkdir nm
printf 'the copy I have\n' > nm/x.bin
touch -d '2001-02-03 04:05:06' nm/x.bin
before=$(stat -c %Y nm/x.bin)
printf '%s\n' "{\"url\": \"$u/bytes/1000/x.bin?etag=v1\", \"headers\": {\"If-None-Match\": \"\\\"v1\\\"\"}, \"expect_status\": [200, 304]}" > cond.jsonl
"$jfetch" -q --json --jobs cond.jsonl -o nm > nm.json
check "304: exit 0" [ $? = 0 ]
check "304: http_status" [ "$(rec nm.json http_status)" = 304 ]
check "304: bytes 0" [ "$(rec nm.json bytes)" = 0 ]
check "304: content kept" [ "$(cat nm/x.bin)" = "the copy I have" ]
check "304: mtime kept" [ "$(stat -c %Y nm/x.bin)" = "$before" ]
check "304: nothing else" only nm x.bin
# the same with -O (through a link) and with --continue
ln -s x.bin nm/l
"$jfetch" -q -c --json --jobs cond.jsonl -O nm/l > nm2.json
check "304 -O link -c: http_status" [ "$(rec nm2.json http_status)" = 304 ]
check "304 -O link -c: content kept" [ "$(cat nm/x.bin)" = "the copy I have" ]
check "304 -O link -c: mtime kept" [ "$(stat -c %Y nm/x.bin)" = "$before" ]
check "304 -O link -c: nothing else" only nm "l x.bin"
# 204 No Content: nothing to save, the file stays
"$jfetch" -q --json -O nm/x.bin "$u/status/204/x.bin" > nc.json
check "204: exit 0, bytes 0" [ "$(rec nc.json bytes)" = 0 ]
check "204: content kept" [ "$(cat nm/x.bin)" = "the copy I have" ]
check "204: nothing else" only nm "l x.bin"
# a changed ETag: 200, the body replaces the file
sed 's/etag=v1/etag=v2/' cond.jsonl > cond2.jsonl
"$jfetch" -q --json --jobs cond2.jsonl -o nm > nm3.json
check "200 after a change: http_status" [ "$(rec nm3.json http_status)" = 200 ]
check "200 after a change: the new body" cmp -s nm/x.bin <(head -c 1000 ref.bin)

echo "special_output_check: $checks checks, $fails failed"
[ "$fails" = 0 ]
