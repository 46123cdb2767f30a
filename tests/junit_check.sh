#!/usr/bin/env bash
# JUnit reports that CI servers accept (issue 10, item 5).
#   junit_check.sh JFETCH FAULTSRV
# A real run with an ok job, a 404, a refused connection, a checksum
# mismatch, a cancelled job (JFETCH_HANG_JOB, --deadline), a panicked one
# (JFETCH_PANIC_JOB), two jobs with the same URL and no id, and one with
# credentials in its URL.  The report must validate against
# tests/data/junit-10.xsd (Jenkins xunit's schema) with xmllint --schema,
# and read back as GitLab's and GitHub's JUnit readers read it (testsuite,
# testcase name/classname/time, failure/error/skipped with a message,
# system-out): cases in input order, named by id or redacted URL, the
# duplicate made unique, classname the job file's base name, counts that
# match.  A second run with a job inserted first (and --skip-existing, for
# a skipped case) renames none of the others; a URL list gets classname
# jfetch.
set -euo pipefail
jfetch=$1 faultsrv=$2
xsd=$(cd "$(dirname "$0")" && pwd)/data/junit-10.xsd
. "$(dirname "$0")/lib/faultsrv.sh"
faultsrv_start "$faultsrv"
hostport=${u#http://}
dead=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
zero=0000000000000000000000000000000000000000000000000000000000000000

jobs() { # jobs [EXTRA-FIRST-JOB]: the job file's text
  printf '[%s\n' "${1:-}"
  cat <<EOF
 {"id": "ok", "url": "$u/bytes/1000/ok.bin"},
 {"id": "missing", "url": "$u/status/404/missing.bin"},
 {"id": "refused", "url": "http://127.0.0.1:$dead/refused.bin"},
 {"id": "badsum", "url": "$u/bytes/100/sum.bin", "sha256": "$zero"},
 {"id": "hang", "url": "$u/bytes/100000/hang.bin"},
 {"id": "boom", "url": "$u/bytes/300000/boom.bin"},
 {"url": "$u/bytes/10/dup.bin"},
 {"url": "$u/bytes/10/dup.bin", "output": "dup2.bin"},
 {"url": "http://user:secret@$hostport/basic-auth/user/s%65cret/auth.bin"}
]
EOF
}
mkdir -p ci
jobs > ci/ci-jobs.json
set +e
JFETCH_HANG_JOB=hang JFETCH_PANIC_JOB=boom "$jfetch" --jobs ci/ci-jobs.json \
  -o out --deadline 2 --report junit=r1.xml --no-progress 2> r1.err
rc=$?
set -e
[ "$rc" = 3 ] || { echo "junit_check: exit $rc, expected 3" >&2; cat r1.err >&2; exit 1; }

validate() {
  xmllint --noout --schema "$xsd" "$1" ||
    { echo "junit_check: $1 fails junit-10.xsd:" >&2; cat "$1" >&2; exit 1; }
}
validate r1.xml
if grep -n secret r1.xml >&2; then echo "junit_check: a password" >&2; exit 1; fi

# read it back as the CI readers do, and compare
python3 - "$u" "$hostport" <<'PY'
import sys, xml.etree.ElementTree as ET
u, hp = sys.argv[1], sys.argv[2]
want = [("ok", "pass"), ("missing", "failure"), ("refused", "failure"),
        ("badsum", "failure"), ("hang", "error"), ("boom", "error"),
        (u + "/bytes/10/dup.bin", "pass"),
        (u + "/bytes/10/dup.bin (2)", "pass"),
        ("http://user:***@" + hp + "/basic-auth/user/s%65cret/auth.bin",
         "pass")]
root = ET.parse("r1.xml").getroot()
bad = []
if root.tag != "testsuites":
    bad.append("root is " + root.tag)
suites = root.findall("testsuite")
cases = [c for s in suites for c in s.findall("testcase")]
def status(c):  # GitLab: failure > error > skipped > success
    for tag in ("failure", "error", "skipped"):
        if c.find(tag) is not None:
            return tag
    return "pass"
got = [(c.get("name"), status(c)) for c in cases]
if got != want:
    bad.append("cases:\n  got  %r\n  want %r" % (got, want))
for c in cases:
    if c.get("classname") != "ci-jobs.json":
        bad.append("classname %r" % c.get("classname"))
    float(c.get("time"))  # GitLab and GitHub readers parse it
    for tag in ("failure", "error"):
        e = c.find(tag)
        if e is not None and not e.get("message"):
            bad.append("%s of %s has no message" % (tag, c.get("name")))
    if status(c) == "pass" and c.find("system-out") is None:
        bad.append("no system-out for " + c.get("name"))
if len(set(n for n, _ in got)) != len(got):
    bad.append("names not unique")
s = suites[0]
counts = {"tests": len(cases),
          "failures": sum(status(c) == "failure" for c in cases),
          "errors": sum(status(c) == "error" for c in cases),
          "skipped": sum(status(c) == "skipped" for c in cases)}
for k, v in counts.items():
    if int(s.get(k)) != v:
        bad.append("testsuite %s=%s, counted %d" % (k, s.get(k), v))
    if k != "skipped" and int(root.get(k)) != v:
        bad.append("testsuites %s=%s, counted %d" % (k, root.get(k), v))
for b in bad:
    print("junit_check:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY

# a job inserted first: the others keep their names (and ok.bin is skipped)
jobs ' {"id": "inserted", "url": "'"$u"'/bytes/5/new.bin"},' > ci/ci-jobs.json
set +e
"$jfetch" --jobs ci/ci-jobs.json -o out --skip-existing \
  --report junit=r2.xml --no-progress 2> r2.err
set -e
validate r2.xml
python3 - <<'PY'
import sys, xml.etree.ElementTree as ET
names = lambda f: [c.get("name") for c in ET.parse(f).getroot().iter("testcase")]
one, two = names("r1.xml"), names("r2.xml")
skipped = [c.get("name") for c in ET.parse("r2.xml").getroot().iter("testcase")
           if c.find("skipped") is not None]
bad = []
if two != ["inserted"] + one:
    bad.append("renamed:\n  before %r\n  after  %r" % (one, two))
if "ok" not in skipped:
    bad.append("ok not skipped: %r" % skipped)
for b in bad:
    print("junit_check:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY

# a URL list: classname jfetch
printf '%s\n' "$u/bytes/3/l1.bin" "$u/status/500/l2.bin" > list.txt
set +e
"$jfetch" -i list.txt -o out3 --report junit=r3.xml --no-progress 2> r3.err
set -e
validate r3.xml
[ "$(xmllint --xpath 'count(//testcase[@classname="jfetch"])' r3.xml)" = 2 ] ||
  { echo "junit_check: classname of a URL list" >&2; cat r3.xml >&2; exit 1; }
echo "junit_check: 3 reports valid per junit-10.xsd, read back as expected"
