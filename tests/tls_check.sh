#!/usr/bin/env bash
# HTTPS: certificate checks, --cacert, --insecure, and HTTP/2 multiplexing.
#   tls_check.sh JFETCH
# Makes a CA and a server certificate for 127.0.0.1 with openssl, starts
# nginx with TLS and HTTP/2 on a free port (stopped by pid on exit), and
# checks that:
#   1. without --cacert the unknown CA is refused: error_kind tls, exit 1,
#      and no file is written;
#   2. with --cacert the transfer is verified and ok, and uses HTTP/2;
#   3. with --insecure it is ok without the CA;
#   4. 40 jobs at once over HTTP/2 share a handful of connections (each
#      worker's multi multiplexes its streams on one connection);
#   5. an HTTPS server that speaks only HTTP/1.1 and closes every
#      connection (slow responses) still gets the jobs concurrently: waiting
#      to multiplex (PIPEWAIT) must not serialise them behind one connection;
#   6. --limit-rate and --limit-rate-total hold on multiplexed HTTP/2
#      streams (pausing one stream does not stall or speed up the others).
set -euo pipefail
jfetch=$1
work=$(mktemp -d)
nginx_pid=
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
chmod 755 "$work"

openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
  -days 2 -subj "/CN=jfetch test CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr \
  -subj "/CN=127.0.0.1" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > ext.cnf
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
  -out srv.pem -days 2 -extfile ext.cnf 2>/dev/null

mkdir -p www logs tmp
head -c 50000 /dev/urandom > www/f.bin
for i in $(seq 1 40); do head -c $((1000 + i)) /dev/urandom > www/g$i.bin; done
chmod -R a+rX www
free_port() { python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
port1=$(free_port)
while [ "$port1" = "$port" ]; do port1=$(free_port); done
cat > nginx.conf <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 256; }
http {
  log_format t '\$server_protocol \$connection \$request_uri';
  log_format s '\$msec \$request_time';
  access_log $work/logs/access.log t;
  client_body_temp_path $work/tmp;
  proxy_temp_path $work/tmp;
  fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp;
  scgi_temp_path $work/tmp;
  server {
    listen 127.0.0.1:$port ssl http2;
    ssl_certificate $work/srv.pem;
    ssl_certificate_key $work/srv.key;
    root $work/www;
  }
  server {
    listen 127.0.0.1:$port1 ssl;
    ssl_certificate $work/srv.pem;
    ssl_certificate_key $work/srv.key;
    root $work/www;
    keepalive_timeout 0;
    limit_rate 4k;
    access_log $work/logs/h1.log s;
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
  sleep 0.05
done
url=https://127.0.0.1:$port

fail=0
expect() { # description, condition (as a command)
  if "${@:2}"; then echo "tls_check: ok: $1"; else
    echo "tls_check: FAIL: $1"; fail=1; fi
}
field() { python3 -c 'import json,sys; r=json.loads(sys.stdin.readline())
print(r[sys.argv[1]])' "$1"; }
# batch N BASE PREFIX DIR FLAGS...: fetches BASE/PREFIX1.bin ... PREFIXN.bin
# into DIR with the CA, and checks the exit status and every file's bytes
batch() {
  local n=$1 base=$2 pre=$3 dir=$4 code ok=0 i
  shift 4
  for i in $(seq 1 "$n"); do echo "$base/$pre$i.bin"; done > "$dir.txt"
  set +e
  "$jfetch" -q "$@" -i "$dir.txt" -o "$dir" --cacert ca.pem; code=$?
  set -e
  expect "$n jobs to $base (exit 0)" test "$code" = 0
  for i in $(seq 1 "$n"); do
    cmp -s "$dir/$pre$i.bin" "www/$pre$i.bin" && ok=$((ok + 1))
  done
  expect "$n files byte-identical" test "$ok" = "$n"
}

set +e
"$jfetch" -q --json -o o1 "$url/f.bin" > r1.json; c1=$?
"$jfetch" -q --json -o o2 --cacert ca.pem "$url/f.bin" > r2.json; c2=$?
"$jfetch" -q --json -o o3 -k "$url/f.bin" > r3.json; c3=$?
set -e
expect "unknown CA refused (exit 1)" test "$c1" = 1
expect "error_kind tls" test "$(field error_kind < r1.json)" = tls
expect "nothing written when refused" test ! -e o1/f.bin
expect "--cacert verifies (exit 0)" test "$c2" = 0
expect "--cacert: the bytes are right" cmp -s o2/f.bin www/f.bin
expect "--insecure (exit 0)" test "$c3" = 0
expect "--insecure: the bytes are right" cmp -s o3/f.bin www/f.bin

: > logs/access.log.before
cp logs/access.log logs/access.log.before
batch 40 "$url" g o4 -j 40
new=$(tail -n +"$(( $(wc -l < logs/access.log.before) + 1 ))" logs/access.log)
h2=$(printf '%s\n' "$new" | grep -c '^HTTP/2.0 ' || true)
conns=$(printf '%s\n' "$new" | awk '{print $2}' | sort -u | wc -l)
expect "every request was HTTP/2 ($h2 of 40)" test "$h2" = 40
expect "multiplexed: 40 streams on $conns connections" test "$conns" -le 8

# 5: 16 responses of 6 KiB at 4 KiB/s (the first second's 4 KiB at once,
# the rest about 0.5 s later) over HTTP/1.1
for i in $(seq 1 16); do head -c 6144 /dev/urandom > "www/h$i.bin"; done
chmod -R a+rX www
batch 16 "https://127.0.0.1:$port1" h o5 -j 8
# the most requests in progress at one time, from each one's end time and
# duration in nginx's log
peak=$(python3 -c 'import sys
ev = []
for line in open(sys.argv[1]):
    end, dur = map(float, line.split())
    ev += [(end - dur, 1), (end, -1)]
cur = top = 0
for _, d in sorted(ev, key=lambda e: (e[0], e[1])):
    cur += d; top = max(top, cur)
print(top)' logs/h1.log)
expect "HTTP/1.1 jobs overlapped (at most $peak at once, want >= 4)" \
  test "$peak" -ge 4
# 6: pacing over HTTP/2 (the write callback pauses one stream while the
# others on its connection go on): four 800 KiB streams at 400K each end
# in about 2 s, under --limit-rate-total 1M in about 3.2 s, byte-exact
for i in $(seq 1 4); do head -c 819200 /dev/urandom > "www/p$i.bin"; done
chmod -R a+rX www
secs() { python3 -c 'import time; print(time.monotonic())'; }
t0=$(secs)
batch 4 "$url" p o6 -j 4 --limit-rate 400K
t1=$(secs)
batch 4 "$url" p o7 -j 4 --limit-rate-total 1M
t2=$(secs)
h2p=$(grep -c '^HTTP/2.0 .* /p' logs/access.log || true)
expect "paced transfers were HTTP/2 ($h2p of 8)" test "$h2p" = 8
within() { python3 -c 'import sys; a, b, lo, hi = map(float, sys.argv[1:])
sys.exit(not lo <= b - a <= hi)' "$@"; }
d1=$(python3 -c "print('%.2f' % ($t1 - $t0))")
d2=$(python3 -c "print('%.2f' % ($t2 - $t1))")
expect "HTTP/2 at --limit-rate 400K: $d1 s (1.5-5.5)" within "$t0" "$t1" 1.5 5.5
expect "HTTP/2 under --limit-rate-total 1M: $d2 s (2.4-6.5)" \
  within "$t1" "$t2" 2.4 6.5

if [ $fail = 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $fail
