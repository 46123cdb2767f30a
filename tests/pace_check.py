#!/usr/bin/env python3
"""Traffic control: --limit-rate, --limit-rate-total, --rate, --per-host-rate.

usage: pace_check.py JFETCH FAULTSRV

Against the fault server on loopback (whose /bytes bodies are a known
pattern, so every file is checked byte for byte), with wide windows:
  - 600 KB at --limit-rate 200K takes 2.3-5.5 s; 2 MB at 500K 3.1-7 s;
    elapsed_ms counts the waits;
  - four 800 KB at -j 4 --limit-rate 400K take about as long as one
    (1.5-5.5 s; one after the other would be 8 s);
  - the same four under --limit-rate-total 1M take 2.4-6.5 s;
  - the job key limit_rate (in a job and in "defaults") caps like the flag;
  - a transfer reset mid-body under a cap resumes and ends byte-exact;
  - a chunked body is paced too, and --max-filesize crossed by a chunk
    redelivered after a pause ends the job (size) instead of hanging;
  - 40 jobs at --rate 20/s take 1.5-4.5 s; retries take starts too;
  - --per-host-rate paces each host on its own;
  - the progress bar shows the capped rate, not a burst;
  - bad units exit 2 with one line naming the flag, before any fetch.
Without the pacing, the capped cases finish in well under a second.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time


def pattern(n, first=0):
    return bytes((((i * 31 + 7) ^ (i >> 8)) & 0xFF)
                 for i in range(first, first + n))


class Check:
    def __init__(self, jfetch, base, tmp):
        self.jfetch, self.base, self.tmp = jfetch, base, tmp
        self.fails = []
        self.n = 0

    def run(self, args, timeout=60):
        self.n += 1
        out = os.path.join(self.tmp, "o%d" % self.n)
        t0 = time.monotonic()
        p = subprocess.run([self.jfetch, "-q", "--json", "-o", out] + args,
                           capture_output=True, timeout=timeout)
        dt = time.monotonic() - t0
        recs = [json.loads(l) for l in p.stdout.decode().splitlines()]
        return p.returncode, dt, recs, out, p.stderr.decode()

    def fail(self, what):
        self.fails.append(what)
        print("FAIL: " + what)

    def files_exact(self, name, out, sizes):
        for f, n in sizes.items():
            path = os.path.join(out, f)
            try:
                with open(path, "rb") as fh:
                    got = fh.read()
            except OSError as e:
                self.fail("%s: %s" % (name, e))
                continue
            if got != pattern(n):
                self.fail("%s: %s is not byte-exact (%d bytes, want %d)" %
                          (name, f, len(got), n))

    def timed(self, name, args, lo, hi, sizes):
        code, dt, recs, out, err = self.run(args)
        print("%-44s %.2f s (window %.1f-%.1f)" % (name, dt, lo, hi))
        if code != 0:
            self.fail("%s: exit %d: %s" % (name, code, err[:300]))
        if not lo <= dt <= hi:
            self.fail("%s: took %.2f s, outside %.1f-%.1f s" % (name, dt, lo,
                                                                  hi))
        self.files_exact(name, out, sizes)
        return dt, recs

    def url(self, path):
        return self.base + path


def caps(c):
    one = {"a.bin": 600 * 1024}
    _, recs = c.timed("600 KB at --limit-rate 200K",
                      ["--limit-rate", "200K",
                       c.url("/bytes/614400/a.bin")], 2.3, 5.5, one)
    if recs and recs[0]["elapsed_ms"] < 2300:
        c.fail("elapsed_ms %d leaves the waits out" % recs[0]["elapsed_ms"])
    c.timed("2 MB at --limit-rate 500K",
            ["--limit-rate", "500K", c.url("/bytes/2097152/b.bin")], 3.1, 7,
            {"b.bin": 2097152})
    four = {"f%d.bin" % i: 819200 for i in range(4)}
    urls = [c.url("/bytes/819200/f%d.bin" % i) for i in range(4)]
    t1, _ = c.timed("one 800 KB at --limit-rate 400K",
                    ["--limit-rate", "400K", urls[0]], 1.5, 5.5,
                    {"f0.bin": 819200})
    t4, _ = c.timed("four 800 KB at -j 4 --limit-rate 400K",
                    ["-j", "4", "--limit-rate", "400K"] + urls, 1.5, 5.5,
                    four)
    if t4 > 1.6 * t1 + 0.5:
        c.fail("four capped transfers took %.2f s, one %.2f s" % (t4, t1))
    c.timed("four 800 KB under --limit-rate-total 1M",
            ["-j", "4", "--limit-rate-total", "1M"] + urls, 2.4, 6.5, four)
    c.timed("the same with both caps (400K each, 1M total)",
            ["-j", "4", "--limit-rate", "400K", "--limit-rate-total", "1M"] +
            urls, 2.4, 6.5, four)


def job_key(c):
    jobs = os.path.join(c.tmp, "jobs.json")
    with open(jobs, "w") as f:
        json.dump({"defaults": {"limit_rate": "200K"},
                   "jobs": [{"url": c.url("/bytes/409600/k1.bin")},
                            {"url": c.url("/bytes/409600/k2.bin"),
                             "limit_rate": 409600}]}, f)
    _, recs = c.timed("job key limit_rate (defaults 200K, one 400K)",
                      ["--jobs", jobs], 1.5, 5.0,
                      {"k1.bin": 409600, "k2.bin": 409600})
    by = {r["path"].split("/")[-1]: r["elapsed_ms"] for r in recs}
    if len(by) == 2 and not by["k2.bin"] < by["k1.bin"]:
        c.fail("the job's own limit_rate did not win over defaults: %r" % by)


def resumed(c):
    c.timed("reset mid-body under a cap, resumed",
            ["--limit-rate", "300K", "--retries", "2", "--retry-delay", "1ms",
             c.url("/faulty/pace1/1/reset/200000/bytes/614400/r.bin")],
            1.5, 6.0, {"r.bin": 614400})


def rates(c):
    urls = [c.url("/bytes/100/s%d.bin" % i) for i in range(40)]
    c.timed("40 jobs at --rate 20/s", ["--rate", "20/s"] + urls, 1.5, 4.5,
            {"s%d.bin" % i: 100 for i in range(40)})
    # 10 jobs failing once each: 20 starts at 10/s
    urls = [c.url("/flaky/pr%d/1/503/bytes/100/t%d.bin" % (i, i))
            for i in range(10)]
    c.timed("10 jobs x 2 attempts at --rate 10/s",
            ["--rate", "10/s", "--retries", "1", "--retry-delay", "1ms"] +
            urls, 1.4, 4.5, {"t%d.bin" % i: 100 for i in range(10)})
    port = c.base.rsplit(":", 1)[1]
    other = "http://localhost:" + port
    urls = [c.url("/bytes/100/h%d.bin" % i) for i in range(10)] + \
        [other + "/bytes/100/l%d.bin" % i for i in range(10)]
    # 5/s per host: each host's 10 starts take 1.8 s; one shared 5/s pace
    # would take 3.8 s
    c.timed("10 + 10 jobs on two hosts at --per-host-rate 5/s",
            ["--per-host-rate", "5/s"] + urls, 1.3, 3.4,
            dict([("h%d.bin" % i, 100) for i in range(10)] +
                 [("l%d.bin" % i, 100) for i in range(10)]))


def chunked(c):
    c.timed("chunked body (3000-byte chunks) at 200K",
            ["--limit-rate", "200K",
             c.url("/chunked/3000/bytes/409600/c.bin")], 1.5, 5.0,
            {"c.bin": 409600})
    # the write that crosses --max-filesize may be a chunk libcurl hands
    # back after a pause (inside curl_easy_pause): the job must still end,
    # as "size", not hang
    code, dt, recs, out, err = c.run(
        ["--limit-rate", "100K", "--max-filesize", "150K",
         c.url("/chunked/3000/bytes/409600/m.bin")], timeout=30)
    kind = recs[0]["error_kind"] if recs else None
    print("%-44s %.2f s, %s" % ("--max-filesize crossed while paced", dt,
                                kind))
    if code != 1 or kind != "size":
        c.fail("--max-filesize under a cap: exit %d, %r" % (code, recs))


def progress_rate(c):
    """The live bar's rate is the capped one (no -q here: the bar is
    drawn on stderr even without a terminal when asked for)."""
    out = os.path.join(c.tmp, "prog")
    p = subprocess.run([c.jfetch, "-o", out, "--progress", "bar",
                        "--limit-rate", "300K",
                        c.url("/bytes/1228800/p.bin")],
                       capture_output=True, timeout=60)
    c.files_exact("progress under a cap", out, {"p.bin": 1228800})
    shown = []
    for tick in p.stderr.decode().replace("\r", "\n").splitlines():
        m = re.search(r"\] +([0-9.]+) (KiB|MiB) +([0-9.]+) (B|KiB|MiB)/s",
                      tick)
        if not m:
            continue
        got = float(m.group(1)) * (1024 if m.group(2) == "MiB" else 1)
        rate = float(m.group(3)) * {"B": 1 / 1024, "KiB": 1,
                                    "MiB": 1024}[m.group(4)]
        if got >= 300:  # past the first second
            shown.append(rate)
    print("%-44s %d ticks, %.0f-%.0f KiB/s" %
          ("progress rate at --limit-rate 300K", len(shown),
           min(shown or [0]), max(shown or [0])))
    if len(shown) < 5 or not all(240 <= r <= 360 for r in shown):
        c.fail("the bar showed %r KiB/s under a 300K cap" % shown)


def bad_units(c):
    for flag, v in (("--limit-rate", "5X"), ("--limit-rate", "0"),
                    ("--limit-rate-total", "1T"), ("--rate", "10/d"),
                    ("--rate", "0/s"), ("--rate", "1.5/s"),
                    ("--per-host-rate", "3"), ("--rate", "")):
        code, _, recs, out, err = c.run([flag, v, c.url("/bytes/10/x.bin")])
        lines = err.strip().splitlines()
        if code != 2 or len(lines) != 1 or flag not in lines[0] or recs \
                or os.path.exists(out):
            c.fail("%s %r: exit %d, stderr %r" % (flag, v, code, err))


def main():
    jfetch, faultsrv = sys.argv[1], sys.argv[2]
    srv = subprocess.Popen([faultsrv, "--port", "0"], stdout=subprocess.PIPE)
    tmp = tempfile.mkdtemp(prefix="jfetch-pace-")
    try:
        base = "http://127.0.0.1:%s" % \
            srv.stdout.readline().split()[1].decode()
        c = Check(jfetch, base, tmp)
        for part in (caps, job_key, resumed, chunked, progress_rate, rates,
                     bad_units):
            part(c)
    finally:
        srv.kill()
        srv.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    if c.fails:
        print("pace_check: %d failure(s)" % len(c.fails))
        return 1
    print("pace_check: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
