#!/usr/bin/env bash
# The README's first command: installs what is missing, builds jfetch, and
# runs its main job on a real example.  It serves the files that
# examples/jobs.json names from nginx on 127.0.0.1 (a free port, picked
# now; the job file's 127.0.0.1:8080 is rewritten to it), fetches them with
# jfetch, shows the result records and the files, and stops the server.
# One job asks for a file that is not there, on purpose: it shows how a
# failure is reported (HTTP 404, exit status 1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DJFETCH_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  >/dev/null
cmake --build build -j"$(nproc)" --target jfetch >/dev/null
jfetch=$PWD/build/src/jfetch

work=$(mktemp -d /tmp/jfetch-demo.XXXXXX)
nginx_pid=
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && \
    while kill -0 "$nginx_pid" 2>/dev/null; do sleep 0.05; done
  rm -rf "$work"
}
trap cleanup EXIT

# the files the example job file names
mkdir -p "$work/www/files/docs" "$work/logs"
head -c 65536 /dev/urandom > "$work/www/files/small.bin"
head -c $((4 << 20)) /dev/urandom > "$work/www/files/medium.bin"
printf 'jfetch demo: hello\n' > "$work/www/files/docs/readme.txt"
chmod 755 "$work"  # nginx's workers run as nobody when started as root
chmod -R a+rX "$work/www"

port=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 256; }
http {
  access_log $work/logs/access.log;
  client_body_temp_path $work/tmp;
  proxy_temp_path $work/tmp;
  fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp;
  scgi_temp_path $work/tmp;
  server { listen 127.0.0.1:$port; root $work/www; }
}
CONF
mkdir -p "$work/tmp"
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
  sleep 0.1
done
sed "s/127\.0\.0\.1:8080/127.0.0.1:$port/g" examples/jobs.json > \
  "$work/jobs.json"

echo "== jfetch --jobs examples/jobs.json (served on 127.0.0.1:$port)"
cd "$work"
set +e
"$jfetch" --jobs jobs.json --create-dirs --json --no-progress \
  > results.jsonl
status=$?
set -e
echo
echo "== one JSON record per job (jq-friendly):"
python3 - results.jsonl <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print("  #%d %-13s %-9s %-11s %4s %8s B  %s" % (
        r["index"], r["id"], r["outcome"], r["error_kind"] or "-",
        r["http_status"] or "-", r["bytes"], r["path"] or r["error"]))
PY
echo
echo "== files written:"
(cd demo-downloads && find . -type f | sort | sed 's/^/  /')
echo
# the expected outcome: every job ok but the deliberate 404
if python3 - results.jsonl <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
bad = [r for r in recs if r["outcome"] != "ok"]
sys.exit(not (len(recs) == 5 and len(bad) == 1 and
              bad[0]["http_status"] == 404))
PY
then
  echo "jfetch exited $status: one job failed (the deliberate HTTP 404), the"
  echo "others are ok.  0 means all ok, 1 some jobs failed, 2 bad input, 3 a"
  echo "task panicked or was cancelled, 130 interrupted."
  exit 0
fi
echo "demo: unexpected results (jfetch exited $status)" >&2
exit 1
