# Sourced by the shell tests: a scratch directory and faultsrv on
# 127.0.0.1 (port 0), both removed on exit; the server is stopped by pid.
#   . tests/lib/faultsrv.sh; faultsrv_start FAULTSRV
# Sets: work (the scratch dir, also the current directory), srv (pid),
# u (http://127.0.0.1:PORT).
faultsrv_cleanup() {
  if [ -n "${srv:-}" ]; then
    kill "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
  fi
  rm -rf "${work:-}"
}

faultsrv_start() {
  work=$(mktemp -d)
  srv=
  trap faultsrv_cleanup EXIT
  cd "$work"
  "$1" --port 0 > port &
  srv=$!
  for _ in $(seq 200); do [ -s port ] && break; sleep 0.05; done
  [ -s port ] || { echo "faultsrv did not start" >&2; exit 1; }
  u=http://127.0.0.1:$(awk '{print $2}' port)
}
