#!/usr/bin/env python3
"""--shard: N machines each take a disjoint share, together every job once.

usage: shard_check.py JFETCH FAULTSRV

One job file of 600 jobs (half with ids, half without, so both hash keys
are used), run as shards K/N for N in 1, 3 and 7, then through --shard
auto with Slurm's and Kubernetes' variables.  For each N: the union of the
shards' records is every index exactly once, every record carries its own
shard "K/N", a job's shard is the same on every run (stable), and every
file the shards wrote is whole.  Also: --check counts this shard's jobs.
"""
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

N_JOBS = 600


def run(jfetch, args, env=None, cwd=None):
    e = dict(os.environ)
    for k in ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN",
              "SLURM_ARRAY_TASK_COUNT", "JOB_COMPLETION_INDEX"):
        e.pop(k, None)
    e.update(env or {})
    p = subprocess.run([jfetch] + args, capture_output=True, env=e, cwd=cwd,
                       timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def shard_records(jfetch, tmp, jobs, k, n, fails, env=None, spec=None):
    out = os.path.join(tmp, "out-%d-%d" % (k, n))
    code, stdout, err = run(jfetch, ["--jobs", jobs, "-o", out, "--json",
                                     "-q", "--shard", spec or "%d/%d" %
                                     (k, n)], env=env)
    if code != 0:
        fails.append("shard %d/%d: exit %d: %s" % (k, n, code, err[:200]))
    recs = [json.loads(l) for l in stdout.splitlines()]
    for r in recs:
        if r["shard"] != "%d/%d" % (k, n):
            fails.append("shard %d/%d: record %d says shard %r" %
                         (k, n, r["index"], r["shard"]))
        if r["outcome"] != "ok":
            fails.append("shard %d/%d: job %d %s" % (k, n, r["index"],
                                                    r["outcome"]))
        f = os.path.join(out, "f%d.bin" % r["index"])
        if os.path.getsize(f) != 100 + r["index"]:
            fails.append("shard %d/%d: %s has the wrong size" % (k, n, f))
    return recs


def check_cover(n, shards, fails, where):
    seen = collections.Counter(r["index"] for recs in shards for r in recs)
    missing = [i for i in range(N_JOBS) if seen[i] == 0]
    twice = [i for i, c in seen.items() if c > 1]
    if missing or twice:
        fails.append("%s N=%d: %d jobs missing, %d in two shards" %
                     (where, n, len(missing), len(twice)))
    sizes = [len(s) for s in shards]
    print("N=%d (%s): shard sizes %s, union %d of %d, overlaps %d" %
          (n, where, sizes, len(seen), N_JOBS, len(twice)))


def main():
    jfetch, faultsrv = sys.argv[1], sys.argv[2]
    srv = subprocess.Popen([faultsrv, "--port", "0"], stdout=subprocess.PIPE)
    base = "http://127.0.0.1:%s" % srv.stdout.readline().split()[1].decode()
    tmp = tempfile.mkdtemp(prefix="jfetch-shard-")
    fails = []
    try:
        jobs = os.path.join(tmp, "jobs.jsonl")
        with open(jobs, "w") as f:
            for i in range(N_JOBS):
                j = {"url": "%s/bytes/%d/f%d.bin" % (base, 100 + i, i)}
                if i % 2:
                    j["id"] = "job-%d" % i
                f.write(json.dumps(j) + "\n")
        first = {}
        for n in (1, 3, 7):
            shards = [shard_records(jfetch, tmp, jobs, k, n, fails)
                      for k in range(n)]
            check_cover(n, shards, fails, "K/N")
            if n == 7:
                first = {r["index"]: r["shard"] for s in shards for r in s}
        # the same split again: stable
        again = [shard_records(jfetch, tmp, jobs, k, 7, fails)
                 for k in range(7)]
        if {r["index"]: r["shard"] for s in again for r in s} != first:
            fails.append("the split into 7 shards changed between runs")
        # Slurm arrays numbered from 1: task id - min is the shard
        slurm = [shard_records(jfetch, tmp, jobs, k, 3, fails, env={
            "SLURM_ARRAY_TASK_ID": str(k + 1), "SLURM_ARRAY_TASK_MIN": "1",
            "SLURM_ARRAY_TASK_COUNT": "3"}, spec="auto") for k in range(3)]
        check_cover(3, slurm, fails, "auto, Slurm")
        k8s = [shard_records(jfetch, tmp, jobs, k, 3, fails, env={
            "JOB_COMPLETION_INDEX": str(k)}, spec="auto/3") for k in range(3)]
        check_cover(3, k8s, fails, "auto/3, Kubernetes")
        counts = []
        for k in range(3):
            code, _, err = run(jfetch, ["--check", "--jobs", jobs, "-o",
                                        os.path.join(tmp, "c"), "--shard",
                                        "%d/3" % k])
            counts.append(int(err.split("--check: ")[1].split()[0]))
        if sum(counts) != N_JOBS:
            fails.append("--check counts %r do not add up to %d" %
                         (counts, N_JOBS))
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    for f in fails[:30]:
        print("FAIL:", f)
    print("%d passed, %d failed" % (0 if fails else 1, 1 if fails else 0))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
