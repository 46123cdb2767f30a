#!/usr/bin/env bash
# selftest.sh - checks every faultsrv endpoint with curl.
#
#   bash selftest.sh path/to/faultsrv
#
# Starts the server on port 0, reads its port from the "PORT <n>" line,
# checks status codes, headers, byte counts and contents (against a
# reference made by perl from the same formula), curl's exit codes for the
# injected faults, the counters, hostile requests, and a clean exit on
# SIGTERM.  Every process it starts is stopped by pid, even on failure.
set -u
bin=${1:?usage: selftest.sh path/to/faultsrv}
work=$(mktemp -d)
srv_pid=
fails=0
checks=0

cleanup() {
  if [ "$fails" -gt 0 ] && [ -s "$work/stderr" ]; then
    echo "--- faultsrv stderr:"
    tail -n 30 "$work/stderr"
  fi
  if [ -n "$srv_pid" ]; then
    kill -KILL "$srv_pid" 2>/dev/null
    wait "$srv_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
  if [ -n "$srv_pid" ] && ! kill -0 "$srv_pid" 2>/dev/null; then
    echo "FAIL: faultsrv died"
    exit 1
  fi
}
# same NAME EXPECTED ACTUAL
same() {
  checks=$((checks + 1))
  [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}
# true_ NAME COMMAND...: the command must succeed
true_() {
  local name=$1
  shift
  checks=$((checks + 1))
  "$@" || fail "$name"
}

# the reference body: byte i = (uint8)((i * 31 + 7) ^ (i >> 8)), i from A
ref() {
  perl -e 'my ($a, $n) = @ARGV; binmode STDOUT;
    print pack("C*", map { (($_ * 31 + 7) ^ ($_ >> 8)) & 255 }
                     $a .. $a + $n - 1)' "$1" "$2"
}

"$bin" --port 0 --port-file "$work/port" --log "$work/log" \
  >"$work/stdout" 2>"$work/stderr" &
srv_pid=$!
port=
for _ in $(seq 200); do
  port=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$work/stdout")
  [ -n "$port" ] && break
  kill -0 "$srv_pid" 2>/dev/null || break
  sleep 0.05
done
if [ -z "$port" ]; then
  echo "FAIL: faultsrv did not print its port"
  cat "$work/stderr"
  exit 1
fi
base="http://127.0.0.1:$port"
same "port file" "$port" "$(cat "$work/port")"

c() { curl -sS --max-time 10 "$@"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
# hdr URL NAME [curl args]: the value of response header NAME
hdr() {
  local url=$1 name=$2
  shift 2
  curl -s -o /dev/null -D - --max-time 10 "$@" "$url" | tr -d '\r' |
    sed -n "s/^$name: //Ip" | head -n1
}

# ---- /bytes ----------------------------------------------------------------
ref 0 100000 >"$work/ref"
c -o "$work/b" "$base/bytes/100000"
true_ "bytes content" cmp -s "$work/ref" "$work/b"
same "bytes/0" "200 0" "$(c -o /dev/null -w '%{http_code} %{size_download}' \
  "$base/bytes/0")"
same "bytes type" "application/octet-stream" \
  "$(hdr "$base/bytes/1" Content-Type)"
same "range code" 206 "$(code -r 1000-1999 "$base/bytes/5000")"
c -r 1000-1999 -o "$work/r" "$base/bytes/5000"
true_ "range content" cmp -s "$work/r" <(ref 1000 1000)
same "content-range" "bytes 1000-1999/5000" \
  "$(hdr "$base/bytes/5000" Content-Range -r 1000-1999)"
c -r 4000- -o "$work/r" "$base/bytes/5000"
true_ "open range" cmp -s "$work/r" <(ref 4000 1000)
c -r -100 -o "$work/r" "$base/bytes/5000"
true_ "suffix range" cmp -s "$work/r" <(ref 4900 100)
same "range past end" 416 "$(code -r 6000- "$base/bytes/5000")"
same "416 content-range" "bytes */5000" \
  "$(hdr "$base/bytes/5000" Content-Range -r 6000-)"
same "norange" "200 5000" "$(c -r 10-19 -o /dev/null \
  -w '%{http_code} %{size_download}' "$base/bytes/5000?norange=1")"
same "etag" '"v1"' "$(hdr "$base/bytes/10?etag=v1" ETag)"
same "if-none-match" 304 \
  "$(code -H 'If-None-Match: "v1"' "$base/bytes/10?etag=v1")"
same "if-none-match weak, listed" 304 "$(code \
  -H 'If-None-Match: "v0", W/"v1"' "$base/bytes/10?etag=v1")"
same "if-none-match stale" "200 10" "$(c -o /dev/null \
  -w '%{http_code} %{size_download}' -H 'If-None-Match: "v0"' \
  "$base/bytes/10?etag=v1")"
same "304 etag" '"v1"' \
  "$(hdr "$base/bytes/10?etag=v1" ETag -H 'If-None-Match: "v1"')"
same "304 no body" "304 0" "$(c -o /dev/null \
  -w '%{http_code} %{size_download}' -H 'If-None-Match: "v1"' \
  "$base/bytes/10?etag=v1")"
same "if-range match" 206 \
  "$(code -r 2-3 -H 'If-Range: "v1"' "$base/bytes/10?etag=v1")"
same "if-range stale" 200 \
  "$(code -r 2-3 -H 'If-Range: "v0"' "$base/bytes/10?etag=v1")"
mkdir "$work/dl"
(cd "$work/dl" && curl -sS --max-time 10 -O "$base/bytes/123/data.bin")
same "file name from url" 123 "$(wc -c <"$work/dl/data.bin" 2>/dev/null)"
same "head length" 777 "$(curl -sS -I --max-time 10 "$base/bytes/777" |
  tr -d '\r' | sed -n 's/^Content-Length: //p')"

# ---- /status, 404 ----------------------------------------------------------
same "status code" 418 "$(code "$base/status/418")"
same "status body" "status 418" "$(c "$base/status/418")"
same "status 204" "204 0" "$(c -o /dev/null \
  -w '%{http_code} %{size_download}' "$base/status/204")"
same "unknown" 404 "$(code "$base/nope")"
same "root" 404 "$(code "$base/")"
same "bad argument" 400 "$(code "$base/bytes/x")"
same "empty rest" "ok" "$(c "$base/delay/1")"

# ---- /basic-auth -------------------------------------------------------------
same "basic-auth none" 401 "$(code "$base/basic-auth/al/s3")"
same "basic-auth wrong" 401 "$(code -u al:nope "$base/basic-auth/al/s3")"
same "basic-auth right" 200 "$(code -u al:s3 "$base/basic-auth/al/s3")"
same "basic-auth body" authorized "$(c -u al:s3 "$base/basic-auth/al/s3")"
same "basic-auth challenge" 'Basic realm="faultsrv"' \
  "$(hdr "$base/basic-auth/al/s3" WWW-Authenticate)"
same "basic-auth in url" 200 "$(code "http://al:s3@${base#http://}/basic-auth/al/s3")"
same "basic-auth no pass" 400 "$(code "$base/basic-auth/al")"
same "basic-auth decoded" 200 "$(code -u al:s3 "$base/basic-auth/%61l/s%33")"

# ---- /delay, /slow ---------------------------------------------------------
t=$(c -o /dev/null -w '%{time_total}' "$base/delay/300/bytes/10")
true_ "delay >= 0.3 s ($t)" awk -v t="$t" 'BEGIN { exit !(t >= 0.29) }'
t=$(c -o "$work/s" -w '%{time_total}' "$base/slow/4000/bytes/2000")
true_ "slow ~0.5 s ($t)" awk -v t="$t" 'BEGIN { exit !(t >= 0.4 && t < 3) }'
true_ "slow content" cmp -s "$work/s" <(ref 0 2000)

# ---- redirects -------------------------------------------------------------
same "redirect location" "/redirect/2/bytes/10?etag=x" \
  "$(hdr "$base/redirect/3/bytes/10?etag=x" Location)"
same "redirect follow" "200 3 10" "$(c -L -o /dev/null \
  -w '%{http_code} %{num_redirects} %{size_download}' \
  "$base/redirect/3/bytes/10")"
same "redirect status" 307 "$(code "$base/redirect/1/bytes/1?status=307")"
c -L --max-redirs 5 -o /dev/null "$base/redirect-loop" 2>/dev/null
same "redirect loop" 47 $?
same "redirect-to" "file:///etc/hostname" \
  "$(hdr "$base/redirect-to?url=file%3A%2F%2F%2Fetc%2Fhostname" Location)"
same "redirect-to bad" 400 "$(code "$base/redirect-to?url=a%0d%0ab")"

# ---- faults ----------------------------------------------------------------
c -o "$work/f" "$base/reset/1000/bytes/100000" 2>/dev/null
same "reset exit" 56 $?
same "reset bytes" 1000 "$(wc -c <"$work/f")"
true_ "reset content" cmp -s "$work/f" <(ref 0 1000)
c -o "$work/f" "$base/truncate/1000/bytes/100000" 2>/dev/null
same "truncate exit" 18 $?
same "truncate bytes" 1000 "$(wc -c <"$work/f")"
c -o "$work/f" "$base/chunked/100/truncate/1000/bytes/100000" 2>/dev/null
same "chunked truncate exit" 18 $?
curl -sS --max-time 1 -o "$work/f" "$base/stall/500/bytes/10000" 2>/dev/null
same "stall exit" 28 $?
same "stall bytes" 500 "$(wc -c <"$work/f")"
same "fault past the end" "0 1000" "$(c -o /dev/null \
  -w '%{exitcode} %{size_download}' "$base/truncate/5000/bytes/1000")"

# ---- /chunked --------------------------------------------------------------
same "chunked header" chunked \
  "$(hdr "$base/chunked/7/bytes/1000" Transfer-Encoding)"
c -o "$work/ch" "$base/chunked/7/bytes/1000"
true_ "chunked content" cmp -s "$work/ch" <(ref 0 1000)

# ---- counters --------------------------------------------------------------
c -o /dev/null "$base/stats/reset"
got=
for _ in 1 2 3; do got="$got $(code "$base/flaky/k1/2/503/bytes/5")"; done
same "flaky sequence" " 503 503 200" "$got"
true_ "stats flaky count" grep -q '"flaky":{"k1":3}' <(c "$base/stats")
same "retry-after" "7" "$(hdr "$base/retry-after/r1/1/7/bytes/5" Retry-After)"
same "retry-after then" 200 "$(code "$base/retry-after/r1/1/7/bytes/5")"
same "retry-after 429" 429 "$(code "$base/retry-after/r2/1/0/bytes/5")"
d=$(hdr "$base/retry-after-date/r3/1/120/bytes/5" Retry-After)
true_ "retry-after-date format ($d)" grep -Eq \
  '^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} [A-Z][a-z]{2} [0-9]{4} '\
'[0-9]{2}:[0-9]{2}:[0-9]{2} GMT$' \
  <<<"$d"
delta=$(($(date -u -d "$d" +%s) - $(date -u +%s)))
true_ "retry-after-date is 120 s ahead ($delta)" \
  test "$delta" -ge 110 -a "$delta" -le 121
st=$(c "$base/stats")
true_ "stats retry counts ($st)" grep -q '"r1":2' <<<"$st"
true_ "stats requests ($st)" grep -q '"requests":9,' <<<"$st"

# ---- /echo, /header --------------------------------------------------------
e=$(c -X POST -H 'X-Test: a\b' -H 'X-Dup: 1' -H 'X-Dup: 2' \
  --data-binary $'say "hi"\n\x01' "$base/echo?q=1")
for want in '"method":"POST"' '"path":"/echo"' '"query":"q=1"' \
  '"x-test":"a\\b"' '"x-dup":"1, 2"' '"body":"say \"hi\"\n\u0001"'; do
  true_ "echo has $want" grep -qF "$want" <<<"$e"
done
same "echo type" application/json "$(hdr "$base/echo" Content-Type)"
# names fold in ASCII only: X^ and X~ (0x5e, 0x7e) are two names, X-A and
# x-a one
e=$(c -H 'X^: caret' -H 'X~: tilde' -H 'X-Case: 1' -H 'x-case: 2' \
  "$base/echo")
for want in '"x^":"caret"' '"x~":"tilde"' '"x-case":"1, 2"'; do
  true_ "echo folds in ASCII: $want" grep -qF "$want" <<<"$e"
done
head -c 1048576 /dev/zero >"$work/1m"
same "echo 1 MiB" '"body_length":1048576}' "$(c --data-binary @"$work/1m" \
  "$base/echo" | grep -o '"body_length":[0-9]*}')"
echo x >>"$work/1m"
same "echo too big" 413 "$(code --data-binary @"$work/1m" "$base/echo")"
cd_url="$base/header/Content-Disposition"
cd_url="$cd_url/attachment%3B%20filename%3D%22cd.bin%22/bytes/42"
(cd "$work/dl" && curl -sS --max-time 10 -OJ "$cd_url")
same "content-disposition" 42 "$(wc -c <"$work/dl/cd.bin" 2>/dev/null)"
same "header content-type" text/html \
  "$(hdr "$base/header/Content-Type/text%2Fhtml/bytes/3" Content-Type)"
same "header injection" 400 "$(code "$base/header/X-A/a%0d%0aX-B:%20c")"

# ---- connections -----------------------------------------------------------
c -o /dev/null "$base/stats/reset"
c -o /dev/null -o /dev/null -o /dev/null "$base/bytes/10" "$base/bytes/20" \
  "$base/echo"
true_ "keep-alive reuse" grep -q '"accepted":2,' <(c "$base/stats")
same "http/1.0 closes" close "$(hdr "$base/bytes/1" Connection --http1.0)"
for i in $(seq 400); do
  printf 'url = "%s/delay/%d/bytes/%d"\noutput = "/dev/null"\n' \
    "$base" $((i % 7)) "$i"
done >"$work/par.cfg"
c -o /dev/null "$base/stats/reset"
c -Z --parallel-max 64 -K "$work/par.cfg" 2>"$work/par.err"
same "parallel exit" 0 $?
true_ "parallel count" grep -q '"requests":401,' <(c "$base/stats")

# ---- hostile input ---------------------------------------------------------
# raw BYTES: sends BYTES (printf %b) on a fresh connection, prints replies
raw() {
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return
  printf '%b' "$1" >&3
  timeout 5 cat <&3 | tr -d '\r'
  exec 3<&- 3>&-
}
status_of() { raw "$1" | head -n1 | cut -d' ' -f2; }
same "garbage" 400 "$(status_of 'GARBAGE\r\n\r\n')"
same "binary" 400 "$(status_of '\x00\x01\x02\xff\r\n\r\n')"
same "http/2.0" 505 "$(status_of 'GET / HTTP/2.0\r\n\r\n')"
same "no colon" 400 "$(status_of 'GET / HTTP/1.1\r\nBad Header\r\n\r\n')"
same "folding" 400 "$(status_of 'GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n')"
same "two lengths" 400 \
  "$(status_of 'POST /echo HTTP/1.1\r\nContent-Length: 1\r\n'\
'Content-Length: 2\r\n\r\nab')"
same "chunked body" 501 \
  "$(status_of 'POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n'\
'\r\n0\r\n\r\n')"
big=$(head -c 70000 /dev/zero | tr '\0' a)
same "huge head" 431 "$(status_of "GET / HTTP/1.1\r\nX: $big\r\n\r\n")"
same "pipelined" 3 "$(raw 'GET /status/200 HTTP/1.1\r\n\r\n'\
'GET /status/201 HTTP/1.1\r\n\r\n'\
'GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n' |
  grep -c '^HTTP/1.1 20[01] ')"
same "bare LF" 200 "$(status_of 'GET /bytes/2 HTTP/1.0\n\n')"
same "absolute form" 200 \
  "$(status_of 'GET http://x/status/200 HTTP/1.1\r\nConnection: close\r\n\r\n')"
true_ "alive after hostile input" kill -0 "$srv_pid"
true_ "log lines" grep -q ' GET /bytes/100000 200$' "$work/log"

# ---- shutdown --------------------------------------------------------------
kill -TERM "$srv_pid"
for _ in $(seq 100); do
  kill -0 "$srv_pid" 2>/dev/null || break
  sleep 0.05
done
wait "$srv_pid"
same "exit status on SIGTERM" 0 $?
srv_pid=

echo "faultsrv selftest: $checks checks, $fails failed"
[ "$fails" -eq 0 ]
