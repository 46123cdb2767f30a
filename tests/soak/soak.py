#!/usr/bin/env python3
"""Soak: many jobs with faults injected at random; nothing lost, nothing
misreported.

usage: soak.py JFETCH FAULTSRV [JOBS] [SEED]       (defaults 20000, 1)

Phase 1: JOBS jobs against faultsrv, each drawn from a fault menu whose
outcome is known in advance (for the retry budget given: --retries 3):
    clean          200, body of a random size                -> ok, 1 attempt
    flaky-503 xk   503 for the first k<=3 tries, then 200     -> ok, k+1
    flaky-500 x5   500 five times (more than the budget)      -> http_status, 4
    reset xk       reset mid-body k<=3 times, then whole      -> ok, k+1
    truncate xk    Content-Length longer than sent, k<=3      -> ok, k+1
    retry-after    429 with Retry-After: 0 once, then 200     -> ok, 2
    not-found      404                                        -> http_status, 1
    reset-always   reset mid-body every time, Range ignored   -> network, 4
                   (with Range honoured, retries would resume and finish)
    stall x1       stalls mid-body once (--speed-time 1)      -> ok, 2
    redirect       two redirects, then 200                    -> ok, 1
Checks: exactly one record per job, every index once, each record's
outcome, error_kind and attempts as predicted, every ok file present with
the right size and bytes (the server's formula), no final file for a
failed job, no .part left for a failed one.

Phase 2: 1,000 slow jobs, SIGINT after the first records: exit 130,
exactly 1,000 records, every cancelled job without a final file, every
ok file byte-correct.

Prints the figures (jobs, faults by kind, records by outcome, wall time).
"""
import collections
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def pattern(n):
    return bytes(((i * 31 + 7) ^ (i >> 8)) & 255 for i in range(n))


def menu(rng):
    r = rng.random()
    if r < 0.45:
        return "clean", 0
    if r < 0.55:
        return "flaky-503", rng.randint(1, 3)
    if r < 0.58:
        return "flaky-500x5", 5
    if r < 0.68:
        return "reset", rng.randint(1, 3)
    if r < 0.75:
        return "truncate", rng.randint(1, 3)
    if r < 0.80:
        return "retry-after", 1
    if r < 0.86:
        return "not-found", 0
    if r < 0.89:
        return "reset-always", 0
    if r < 0.8905:
        return "stall", 1
    return "redirect", 0


def job(i, kind, k, size, base):
    key = "s%d" % i
    tail = "bytes/%d/f%d.bin" % (size, i)
    cut = max(1, size // 3)
    path = {
        "clean": tail,
        "flaky-503": "flaky/%s/%d/503/%s" % (key, k, tail),
        "flaky-500x5": "flaky/%s/5/500/%s" % (key, tail),
        "reset": "faulty/%s/%d/reset/%d/%s" % (key, k, cut, tail),
        "truncate": "faulty/%s/%d/truncate/%d/%s" % (key, k, cut, tail),
        "retry-after": "retry-after/%s/1/0/%s" % (key, tail),
        "not-found": "status/404/f%d.bin" % i,
        "reset-always": "reset/%d/%s?norange=1" % (cut, tail),
        "stall": "faulty/%s/1/stall/%d/%s" % (key, cut, tail),
        "redirect": "redirect/2/%s" % tail,
    }[kind]
    expect = {
        "clean": ("ok", None, 1),
        "flaky-503": ("ok", None, k + 1),
        "flaky-500x5": ("app_error", "http_status", 4),
        "reset": ("ok", None, k + 1),
        "truncate": ("ok", None, k + 1),
        "retry-after": ("ok", None, 2),
        "not-found": ("app_error", "http_status", 1),
        "reset-always": ("app_error", "network", 4),
        "stall": ("ok", None, 2),
        "redirect": ("ok", None, 1),
    }[kind]
    return {"url": "%s/%s" % (base, path), "output": "f%d.bin" % i,
            "id": "j%d" % i}, expect


def start(faultsrv):
    p = subprocess.Popen([faultsrv, "--port", "0"], stdout=subprocess.PIPE)
    port = int(p.stdout.readline().split()[1])
    return p, "http://127.0.0.1:%d" % port


def check_files(out, jobs, expects, recs, sizes, fails):
    cache = {}
    for i, (j, exp) in enumerate(zip(jobs, expects)):
        f = os.path.join(out, j["output"])
        r = recs[i]
        if r["outcome"] == "ok":
            n = sizes[i]
            if n not in cache:
                cache[n] = pattern(n)
            try:
                with open(f, "rb") as fh:
                    if fh.read() != cache[n]:
                        fails.append("job %d: wrong bytes in %s" % (i, f))
            except OSError as e:
                fails.append("job %d: ok but %s" % (i, e))
        else:
            if os.path.exists(f):
                fails.append("job %d: failed but %s exists" % (i, f))
            if r["outcome"] == "app_error" and os.path.exists(f + ".part"):
                fails.append("job %d: failed but left %s.part" % (i, f))


def phase1(jfetch, base, n, seed, tmp, fails):
    rng = random.Random(seed)
    jobs, expects, sizes, kinds = [], [], [], collections.Counter()
    for i in range(n):
        kind, k = menu(rng)
        size = rng.choice([0, 1, 100, 4096, 20000, 65536]) \
            if kind != "stall" else 20000
        if kind in ("reset", "truncate", "reset-always", "stall") and \
                size < 100:
            size = 4096
        jb, exp = job(i, kind, k, size, base)
        jobs.append(jb)
        expects.append(exp)
        sizes.append(size)
        kinds[kind] += 1
    path = os.path.join(tmp, "soak.jsonl")
    with open(path, "w") as f:
        for jb in jobs:
            f.write(json.dumps(jb) + "\n")
    out = os.path.join(tmp, "out")
    t0 = time.time()
    p = subprocess.run([jfetch, "--jobs", path, "-o", out, "--json", "-q",
                        "-j", "64", "--retries", "3", "--retry-delay",
                        "0.01", "--speed-limit", "1", "--speed-time", "1"],
                       capture_output=True, timeout=600)
    wall = time.time() - t0
    recs, by_outcome = {}, collections.Counter()
    for line in p.stdout.decode().splitlines():
        r = json.loads(line)
        if r["index"] in recs:
            fails.append("index %d recorded twice" % r["index"])
        recs[r["index"]] = r
        by_outcome[r["outcome"]] += 1
    if sorted(recs) != list(range(n)):
        fails.append("records: %d for %d jobs (missing %d)" %
                     (len(recs), n, len(set(range(n)) - set(recs))))
        return
    for i, exp in enumerate(expects):
        r = recs[i]
        got = (r["outcome"], r["error_kind"], r["attempts"])
        if got != exp:
            fails.append("job %d (%s): got %r, expected %r (%s)" %
                         (i, jobs[i]["url"], got, exp, r["error"]))
    want_exit = 1 if any(e[0] != "ok" for e in expects) else 0
    if p.returncode != want_exit:
        fails.append("exit %d, expected %d" % (p.returncode, want_exit))
    check_files(out, jobs, expects, recs, sizes, fails)
    print("soak: %d jobs in %.1f s (%.0f jobs/s); faults: %s" %
          (n, wall, n / wall, ", ".join("%s %d" % kv for kv in
                                        sorted(kinds.items()))))
    print("soak: records by outcome: %s; exit %d" %
          (", ".join("%s %d" % kv for kv in sorted(by_outcome.items())),
           p.returncode))


def phase2(jfetch, base, tmp, fails):
    n = 1000
    lst = os.path.join(tmp, "int.txt")
    with open(lst, "w") as f:
        for i in range(n):
            f.write("%s/delay/%d/bytes/%d/g%d.bin\n" %
                    (base, 100 + i % 5 * 50, 1000 + i, i))
    out = os.path.join(tmp, "iout")
    # stderr to a file, not a pipe: -q writes a line per cancelled job
    # there, more than a pipe holds while stdout is read to its end
    errf = open(os.path.join(tmp, "int.err"), "w+b")
    p = subprocess.Popen([jfetch, "-i", lst, "-o", out, "--json", "-q",
                          "-j", "50"], stdout=subprocess.PIPE,
                         stderr=errf)
    lines = []
    while len(lines) < 100:  # interrupt once 100 jobs are done
        line = p.stdout.readline()
        if not line:
            break
        lines.append(line)
    p.send_signal(signal.SIGINT)
    # read on through the same buffered reader: communicate() would read
    # the raw pipe and lose what readline() already buffered
    rest = p.stdout.read()
    p.wait(timeout=60)
    errf.seek(0)
    err_lines = errf.read().decode("utf-8", "replace").splitlines()
    errf.close()
    lines += rest.splitlines()
    recs = {}
    for line in lines:
        r = json.loads(line)
        if r["index"] in recs:
            fails.append("interrupt: index %d twice" % r["index"])
        recs[r["index"]] = r
    outcomes = collections.Counter(r["outcome"] for r in recs.values())
    if p.returncode != 130:
        fails.append("interrupt: exit %d, expected 130" % p.returncode)
    if sorted(recs) != list(range(n)):
        fails.append("interrupt: %d records for %d jobs" % (len(recs), n))
    bad = sum(1 for r in recs.values() if r["outcome"] != "ok")
    named = [ln for ln in err_lines if re.match(r"jfetch: cancelled +#\d+ ",
                                                ln)]
    if len(named) != bad:  # -q: one line per job that did not succeed
        fails.append("interrupt: -q named %d failed jobs on stderr, %d "
                     "failed" % (len(named), bad))
    for i, r in recs.items():
        f = os.path.join(out, "g%d.bin" % i)
        if r["outcome"] == "ok":
            with open(f, "rb") as fh:
                if fh.read() != pattern(1000 + i):
                    fails.append("interrupt: job %d wrong bytes" % i)
        elif os.path.exists(f):
            fails.append("interrupt: cancelled job %d has a final file" % i)
    print("interrupt: %d jobs, SIGINT after %d records: %s; exit %d" %
          (n, 100, ", ".join("%s %d" % kv for kv in sorted(outcomes.items())),
           p.returncode))


def main():
    jfetch, faultsrv = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    srv, base = start(faultsrv)
    tmp = tempfile.mkdtemp(prefix="jfetch-soak-")
    fails = []
    try:
        phase1(jfetch, base, n, seed, tmp, fails)
        phase2(jfetch, base, tmp, fails)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    kinds = collections.Counter(f.split("(")[1].split("/")[3] if "(" in f
                                and f.count("/") > 3 else "other"
                                for f in fails)
    if fails:
        print("failures by first path segment:", dict(kinds))
    for f in fails[:50]:
        print("FAIL:", f)
    if len(fails) > 50:
        print("FAIL: ... and %d more" % (len(fails) - 50))
    print("%d passed, %d failed" % (2 - (1 if fails else 0),
                                    1 if fails else 0))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
