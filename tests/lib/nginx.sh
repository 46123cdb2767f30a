# Sourced by the benchmarks: nginx on a free 127.0.0.1 port from
# tests/bench/peers/nginx.conf.in, serving ROOT, its files in DIR.
#   . tests/lib/nginx.sh; nginx_start NGINX ROOT DIR
# Sets: ngx (pid; the caller's exit trap stops it by pid), base
# (http://127.0.0.1:PORT).  Five tries (a port can be taken between
# choosing it and binding it); exits 1 with the log's path if none works.
nginx_start() {
  local bin=$1 root=$2 dir=$3 port
  local conf_in
  conf_in="$(dirname "${BASH_SOURCE[0]}")/../bench/peers/nginx.conf.in"
  mkdir -p "$dir"
  for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    sed -e "s|@PORT@|$port|g" -e "s|@ROOT@|$root|g" -e "s|@TMP@|$dir|g" \
      "$conf_in" >"$dir/nginx.conf"
    "$bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" </dev/null &
    ngx=$!
    for _ in $(seq 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        base=http://127.0.0.1:$port
        return 0
      fi
      kill -0 "$ngx" 2>/dev/null || break
      sleep 0.05
    done
    kill "$ngx" 2>/dev/null || true
    wait "$ngx" 2>/dev/null || true
    ngx=
  done
  echo "nginx would not start; see $dir/error.log" >&2
  exit 1
}
