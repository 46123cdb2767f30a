#!/usr/bin/env bash
# Credentials go to the server and nowhere else (issue 10, item 4).
#   secrets_check.sh JFETCH FAULTSRV
# Runs with http://user:secret@HOST/... against faultsrv's /basic-auth
# (which answers 200 only to the right Basic credentials, so a passing job
# proves they reached the server), through a redirect too, with --json,
# --format, -v, --progress plain, both report files and the summary, and a
# failing job; then -H with Authorization, Cookie and Proxy-Authorization
# and a Set-Cookie answer under -v, and error messages quoting a bad URL.  "secret" must appear in no
# output (stdout, stderr, report files), and the redacted form must.  The
# password is written s%65cret in the server's path, so the path itself
# never spells it.
set -euo pipefail
jfetch=$1 faultsrv=$2
. "$(dirname "$0")/lib/faultsrv.sh"
faultsrv_start "$faultsrv"
cu=http://user:secret@${u#http://}
fails=0

bad() {
  echo "secrets_check: $*" >&2
  fails=$((fails + 1))
}

# no_secret WHAT FILE...: none of the files holds "secret"
no_secret() {
  local what=$1
  shift
  for f in "$@"; do
    if grep -n secret "$f" >&2; then bad "$what: 'secret' in $f"; fi
  done
}

# has WHAT FILE TEXT: FILE holds TEXT (so the check above saw the URL)
has() {
  grep -qF -- "$3" "$2" || bad "$1: no '$3' in $2: $(head -c 600 "$2")"
}

# ---- URLs with user:secret@, every writer --------------------------------
set +e
"$jfetch" -o out --json -v --progress plain \
  --report junit=r.xml --report json=r.json \
  "$cu/basic-auth/user/s%65cret/ok.txt" \
  "$cu/redirect/2/basic-auth/user/s%65cret/redir.txt" \
  "$cu/status/404/missing.txt" \
  "http://user:wrong@${u#http://}/basic-auth/user/s%65cret/denied.txt" \
  > a.out 2> a.err
rc=$?
set -e
[ "$rc" = 1 ] || bad "records run: exit $rc, expected 1"
no_secret records a.out a.err r.xml r.json
for f in a.out a.err r.xml r.json; do has records "$f" "user:***@"; done
has summary a.err "app_error #2 http://user:***@"
grep -qE '^\[.*http://user:\*\*\*@' a.err || bad "progress: no plain line"
python3 - <<'PY' || bad "records run: see above"
import json, sys
recs = {r["url"].rsplit("/", 1)[1]: r for r in map(json.loads, open("a.out"))}
want = {"ok.txt": ("ok", 200), "redir.txt": ("ok", 200),
        "missing.txt": ("app_error", 404), "denied.txt": ("app_error", 401)}
bad = [(n, recs.get(n)) for n, (o, s) in want.items()
       if not recs.get(n) or (recs[n]["outcome"], recs[n]["http_status"]) != (o, s)]
if recs["redir.txt"]["effective_url"].find("/redirect/0/") < 0:
    bad.append(("redir.txt effective_url", recs["redir.txt"]["effective_url"]))
for r in recs.values():
    if not r["url"].startswith("http://user:***@"):
        bad.append(("url", r["url"]))
for b in bad:
    print("secrets_check: %r" % (b,), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
[ "$(cat out/ok.txt)" = authorized ] || bad "out/ok.txt: $(cat out/ok.txt)"
[ "$(cat out/redir.txt)" = authorized ] || bad "out/redir.txt"

# ---- --format / -w ---------------------------------------------------------
set +e
"$jfetch" -o out2 -w '%{url} %{effective_url} %{outcome}\n' \
  "$cu/redirect/1/basic-auth/user/s%65cret/w.txt" "$cu/status/404/x" \
  > b.out 2> b.err
rc=$?
set -e
[ "$rc" = 1 ] || bad "--format run: exit $rc, expected 1"
no_secret --format b.out b.err
has --format b.out "http://user:***@${u#http://}/redirect/0/basic-auth/"
has --format b.out " ok"

# ---- secret headers under -v ---------------------------------------------
set +e
"$jfetch" -o out3 -v --progress plain --json \
  -H 'Authorization: Bearer secret' -H 'Cookie: sid=secret' \
  -H 'Proxy-Authorization: Basic secret' --report junit=h.xml \
  "$u/header/Set-Cookie/sid%3Ds%65cret/echo/e.json" > c.out 2> c.err
rc=$?
set -e
[ "$rc" = 0 ] || bad "-H run: exit $rc: $(cat c.err)"
no_secret -H c.out c.err h.xml
has -H c.err "attempt 1: HTTP 200"
# the headers did reach the server (faultsrv echoes the request)
has -H out3/e.json "Bearer secret"
has -H out3/e.json "sid=secret"
has -H out3/e.json "Basic secret"

# ---- error messages quoting a URL -----------------------------------------
check_exit2() {
  local what=$1
  shift
  set +e
  "$jfetch" "$@" > d.out 2> d.err
  local rc=$?
  set -e
  [ "$rc" = 2 ] || bad "$what: exit $rc, expected 2"
  no_secret "$what" d.out d.err
  has "$what" d.err "***@"
}
check_exit2 "no scheme" "user:secret@127.0.0.1/x"
check_exit2 "ftp scheme" "ftp://user:secret@127.0.0.1/x"
check_exit2 "token as user" "ftp://secret@127.0.0.1/x"
printf '[{"url": "http://user:secret@127.0.0.1:1/"}]\n' > nameless.json
check_exit2 "no file name" --jobs nameless.json -o out4
# a header that lost its ':' shows its first word only
set +e
"$jfetch" -H 'Authorization Bearer secret' "$u/bytes/1/h.bin" \
  > d.out 2> d.err
rc=$?
set -e
[ "$rc" = 2 ] || bad "-H without ':': exit $rc, expected 2"
no_secret "-H without ':'" d.out d.err
has "-H without ':'" d.err '"Authorization" followed by a value'

if [ "$fails" -gt 0 ]; then
  echo "secrets_check: $fails failure(s)" >&2
  exit 1
fi
echo "secrets_check: no 'secret' in any output of 3 runs and 5 refusals"
