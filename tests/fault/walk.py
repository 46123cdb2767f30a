#!/usr/bin/env python3
"""walk.py - the CLI under allocation failure, one failing call at a time.

Usage: walk.py JFETCH_ALLOCFAIL FAULTSRV

JFETCH_ALLOCFAIL is jfetch linked with tests/fault/alloc_fault.c and
-Wl,--wrap=malloc,... : JFETCH_FAIL_ALLOC=N fails the Nth allocation made
by our code, JFETCH_ALLOC_COUNT=FILE writes how many it made.  For each
scenario (three jobs from the command line with --json; three from a
JSON Lines file with ids, and a retry after a 503), the
driver counts the allocations of a clean run, then runs it once for every
N from 1 to that count plus a margin (threads make counts vary a little),
and requires of every run:
  - an exit status among the documented ones (0, 1, 2, 3), never a signal
    (a crash, an abort, an assert), never LeakSanitizer's exit code;
  - no sanitizer or assert report on stderr;
  - a non-zero status comes with an error line "jfetch: ..." on stderr;
  - status 0 means the job really succeeded: every file there, whole.
A run that takes more than 20 s is a hang.
"""
import os
import shutil
import subprocess
import sys
import tempfile

BAD_TEXT = ("Sanitizer", "runtime error:", "Assertion", "panic outside")


def start_faultsrv(path):
    p = subprocess.Popen([path, "--port", "0"], stdout=subprocess.PIPE)
    line = p.stdout.readline().decode()
    if not line.startswith("PORT "):
        p.kill()
        raise SystemExit("faultsrv did not start")
    return p, int(line.split()[1])


def scenarios(url):
    """(name, make(cwd, key) -> argv tail, {output path: size}); key makes
    the server's retry counter fresh for each run."""
    def cmdline(cwd, key):
        return ["-j", "2", "-o", "out", "--json",
                url + "/bytes/1000/a.bin", url + "/bytes/2000/b.bin",
                url + "/bytes/3000/c.bin"]

    def jsonl(cwd, key):
        lines = [
            '{"defaults": {"output_dir": "jl"}}',
            '{"url": "%s/bytes/500/one.bin", "id": "one"}' % url,
            '{"url": "%s/flaky/%s/1/503/bytes/700/two.bin", "id": "two"}' %
            (url, key),
            '{"url": "%s/bytes/900/three.bin", "id": "three", '
            '"output": "t.bin"}' % url,
        ]
        with open(os.path.join(cwd, "jobs.jsonl"), "w") as f:
            f.write("\n".join(lines) + "\n")
        return ["--jobs", "jobs.jsonl", "--retries", "2", "--retry-delay",
                "0.01", "--json"]

    return [("command-line", cmdline,
             {"out/a.bin": 1000, "out/b.bin": 2000, "out/c.bin": 3000}),
            ("jsonl-retry", jsonl,
             {"jl/one.bin": 500, "jl/two.bin": 700, "jl/t.bin": 900})]


def run(binary, args, cwd, n, count_file=None):
    env = dict(os.environ)
    env.pop("JFETCH_FAIL_ALLOC", None)
    if n:
        env["JFETCH_FAIL_ALLOC"] = str(n)
    if count_file:
        env["JFETCH_ALLOC_COUNT"] = count_file
    return subprocess.run([binary, "--no-progress"] + args, cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=20)


def check(name, n, p, cwd, files):
    err = p.stderr.decode(errors="replace")
    where = "%s N=%d" % (name, n)
    if p.returncode < 0:
        return "%s: killed by signal %d\n%s" % (where, -p.returncode, err)
    if p.returncode not in (0, 1, 2, 3):
        return "%s: exit %d\n%s" % (where, p.returncode, err)
    for bad in BAD_TEXT:
        if bad in err:
            return "%s: %r on stderr\n%s" % (where, bad, err)
    if p.returncode != 0 and not any(
            l.startswith("jfetch: ") and len(l) > 8 for l in err.split("\n")):
        return "%s: exit %d without an error line\n%s" % (
            where, p.returncode, err)
    if p.returncode == 0:
        for path, size in files.items():
            full = os.path.join(cwd, path)
            if not os.path.isfile(full) or os.path.getsize(full) != size:
                return "%s: exit 0 but %s is missing or short" % (where, path)
    return None


def walk(binary, name, make, files, work):
    base = os.path.join(work, name)
    os.makedirs(base)
    count_file = os.path.join(base, "count")
    clean = os.path.join(base, "clean")
    os.makedirs(clean)
    p = run(binary, make(clean, name + "-clean"), clean, 0, count_file)
    problem = check(name, 0, p, clean, files)
    if problem or p.returncode != 0:
        return ["%s: the clean run failed (exit %d)\n%s" %
                (name, p.returncode, p.stderr.decode(errors="replace"))]
    with open(count_file) as f:
        count = int(f.read())
    if count < 20:
        return ["%s: only %d allocations counted: not wrapped?" %
                (name, count)]
    failures, statuses = [], {}
    for n in range(1, count + 21):
        cwd = os.path.join(base, "n%d" % n)
        os.makedirs(cwd)
        try:
            p = run(binary, make(cwd, "%s-%d" % (name, n)), cwd, n)
        except subprocess.TimeoutExpired as e:
            failures.append("%s N=%d: hung (killed after %d s)\n%s" %
                            (name, n, e.timeout,
                             (e.stderr or b"").decode(errors="replace")))
            continue
        statuses[p.returncode] = statuses.get(p.returncode, 0) + 1
        problem = check(name, n, p, cwd, files)
        if problem:
            failures.append(problem)
        shutil.rmtree(cwd)
    print("%s: %d allocations; walked N=1..%d; exits %s" %
          (name, count, count + 20,
           ", ".join("%d: %d" % kv for kv in sorted(statuses.items()))))
    if statuses.get(0, 0) == count + 20:
        failures.append("%s: no failure ever showed" % name)
    return failures


def main():
    binary, faultsrv = (os.path.abspath(a) for a in sys.argv[1:3])
    srv, port = start_faultsrv(faultsrv)
    work = tempfile.mkdtemp(prefix="jfetch-allocfail-")
    failures = []
    try:
        for name, make, files in scenarios("http://127.0.0.1:%d" % port):
            failures += walk(binary, name, make, files, work)
    finally:
        srv.kill()
        srv.wait()
        shutil.rmtree(work, ignore_errors=True)
    for f in failures[:20]:
        print("FAIL " + f)
    if failures:
        print("%d failing runs" % len(failures))
        return 1
    print("every allocation failure ended cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
