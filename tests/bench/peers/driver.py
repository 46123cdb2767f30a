#!/usr/bin/env python3
"""driver.py - the peer benchmark proper (run it through ../run_peers.sh).

run_peers.sh installs the packages, builds jfetch, faultsrv and
reqwest-fetch, and then runs this file with the paths of what it built.
Python standard library only.

What it does, in order:
  1. makes a scratch directory on tmpfs (/dev/shm) and generates the data:
     (a) 5,000 x 4 KiB, (b) 200 x 1 MiB, (c) 4 x 256 MiB (random bytes,
     sha256 of each kept), one 16-byte file that nginx serves for every
     /e/N URL of (e)'s lists;
  2. starts nginx (its own config, 127.0.0.1, a free port, one worker) on
     that directory and faultsrv (its own free port) for (d);
  3. for each workload, for each repetition, runs every tool once (the
     order rotates from one repetition to the next), each under
     /usr/bin/time, into a fresh output directory on tmpfs, and verifies
     what it wrote (exact set of names, every size, sha256 for (c); for
     discarded bodies the byte count and content of the concatenation);
     wrk gives the ceiling once per repetition;
  4. writes the tables (medians) to stdout and to the results file.
Nginx and faultsrv are stopped by pid on every exit path (finally +
SIGINT/SIGTERM handler); the scratch directory is removed unless KEEP=1.

Environment: RUNS (default 3), QUICK=1 (RUNS=1, no 1M job list, one run
of (c)), RUNS_1M (default 1: repetitions of the 1M list), CONC (64),
TOOLS (comma list of jfetch, curl, aria2c, wget2, xargs, reqwest) and
WORKLOADS (comma list of a, b, c, d, e), to run a subset; RUN_TIMEOUT (s per
run, default 600), SKIP_1M_TOOLS (comma list of tools not given the 1M
list, default none; aria2c is the slow one at 1M: minutes), KEEP=1.
"""
import argparse
import hashlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

KIB, MIB = 1024, 1024 * 1024

# ---------------------------------------------------------------------------
# configuration

def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default

QUICK = os.environ.get("QUICK") == "1"
RUNS = 1 if QUICK else env_int("RUNS", 3)
RUNS_1M = 0 if QUICK else env_int("RUNS_1M", 1)
CONC = env_int("CONC", 64)
RUN_TIMEOUT = env_int("RUN_TIMEOUT", 600)
WRK_SECONDS = env_int("WRK_SECONDS", 5)
ALL_TOOLS = ["jfetch", "curl -Z", "aria2c", "wget2", "xargs -P curl", "reqwest"]
ALL_WL = ["a", "b", "c", "d", "e"]


def env_list(name, default):
    v = os.environ.get(name)
    return [x.strip() for x in v.split(",") if x.strip()] if v else default


def tool_key(t):
    return t.split()[0]  # "curl -Z" -> curl, "xargs -P curl" -> xargs


TOOLS = [t for t in ALL_TOOLS
         if tool_key(t) in env_list("TOOLS", [tool_key(x) for x in ALL_TOOLS])]
WORKLOADS = env_list("WORKLOADS", ALL_WL)
SKIP_1M = env_list("SKIP_1M_TOOLS", [])


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# processes we start (nginx, faultsrv, the measured runs): stopped by pid

children = []


def stop_children():
    for p in list(children):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for p in list(children):
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    children.clear()


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=10):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port}")


NGINX_CONF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nginx.conf.in")


def start_nginx(nginx, root, tmp):
    for attempt in range(5):
        port = free_port()
        conf = open(NGINX_CONF).read()
        for k, v in {"@PORT@": str(port), "@ROOT@": root, "@TMP@": tmp}.items():
            conf = conf.replace(k, v)
        cpath = os.path.join(tmp, "nginx.conf")
        with open(cpath, "w") as f:
            f.write(conf)
        p = subprocess.Popen([nginx, "-p", tmp, "-c", cpath, "-e",
                              os.path.join(tmp, "error.log")],
                             start_new_session=True, stdin=subprocess.DEVNULL)
        children.append(p)
        try:
            wait_port(port, p, "nginx")
            return p, port
        except RuntimeError as e:
            log(f"nginx on port {port}: {e}; retrying")
            stop_children_one(p)
    raise RuntimeError("nginx would not start; see " + os.path.join(tmp, "error.log"))


def stop_children_one(p):
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        p.wait()
    children.remove(p)


def start_faultsrv(faultsrv, tmp):
    pf = os.path.join(tmp, "faultsrv.port")
    p = subprocess.Popen([faultsrv, "--port", "0", "--port-file", pf],
                         start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL)
    children.append(p)
    t0 = time.time()
    while not os.path.exists(pf):
        if p.poll() is not None or time.time() - t0 > 10:
            raise RuntimeError("faultsrv did not start")
        time.sleep(0.02)
    port = int(open(pf).read())
    wait_port(port, p, "faultsrv")
    return p, port


# ---------------------------------------------------------------------------
# data

TINY = b"0123456789abcde\n"  # 16 bytes: (e)'s response body


def gen_files(d, names, size, want_sha):
    os.makedirs(d, exist_ok=True)
    sums = {}
    for n in names:
        h = hashlib.sha256() if want_sha else None
        with open(os.path.join(d, n), "wb") as f:
            left = size
            while left:
                chunk = os.urandom(min(left, 4 * MIB))
                f.write(chunk)
                if h:
                    h.update(chunk)
                left -= len(chunk)
        if h:
            sums[n] = h.hexdigest()
    return sums


class Workload:
    """kind 'files': every URL gives a file named by its last path segment;
    kind 'discard': bodies are not kept (see run())."""

    def __init__(self, key, title, kind, urls, names=None, size=None,
                 sha=None, jobs=None, unit="req/s", runs=RUNS):
        self.key, self.title, self.kind = key, title, kind
        self.urls, self.names, self.size, self.sha = urls, names, size, sha
        self.jobs = jobs if jobs is not None else len(urls)
        self.unit, self.runs = unit, runs
        self.total_bytes = (size or 0) * self.jobs


def write_lists(wl, tmp):
    """URL list (one a line), curl config (url = lines), aria2 input."""
    base = os.path.join(tmp, "lists", wl.key)
    os.makedirs(base, exist_ok=True)
    wl.list = os.path.join(base, "urls.txt")
    wl.curlcfg = os.path.join(base, "curl.cfg")
    wl.aria2in = os.path.join(base, "aria2.txt")
    with open(wl.list, "w") as f:
        f.writelines(u + "\n" for u in wl.urls)
    with open(wl.curlcfg, "w") as f:
        f.writelines(f'url = "{u}"\n' for u in wl.urls)
    with open(wl.aria2in, "w") as f:
        f.writelines(u + "\n" for u in wl.urls)
    wl.urls = None  # the 1M list is large; the files hold it now


# ---------------------------------------------------------------------------
# the tools

def commands(tool, wl, out, sink, bins):
    """argv, stdout target (path or None) for one run."""
    c = str(CONC)
    if tool == "jfetch":
        a = [bins.jfetch, "-q", "-j", c, "-i", wl.list]
        return (a + ["-O", "-"], sink) if wl.kind == "discard" else (a + ["-o", out], None)
    if tool == "curl -Z":
        # options must come before -K: the config's url lines are taken
        # as the file is read.  -s alone does not hide -Z's meter in 7.88.
        a = ["curl", "-Z", "--parallel-max", c, "-s", "-S", "--no-progress-meter", "--fail"]
        if wl.kind == "discard":
            return a + ["-K", wl.curlcfg], sink
        return a + ["--output-dir", out, "--remote-name-all", "-K", wl.curlcfg], None
    if tool == "aria2c":
        a = ["aria2c", "-q", "-j", c, "-i", wl.aria2in, "-d", out,
             "--deferred-input=true", "--file-allocation=none",
             "--auto-file-renaming=false", "--allow-overwrite=true",
             "--summary-interval=0", "--console-log-level=error",
             "--download-result=hide", "--disable-ipv6=true",
             "--max-tries=1"]
        return a, None
    if tool == "wget2":
        a = ["wget2", "--no-config", "-q", f"--max-threads={c}", "-i", wl.list]
        if wl.kind == "discard":
            return a + ["-O", sink], None
        return a + ["-P", out], None
    if tool == "xargs -P curl":
        return (["xargs", "-a", wl.list, "-d", "\\n", "-P", c, "-n", "1",
                 "curl", "-s", "-S", "--fail", "--output-dir", out, "-O"], None)
    if tool == "reqwest":
        return [bins.reqwest, wl.list, c, "-" if wl.kind == "discard" else out], sink
    raise ValueError(tool)


def skip_reason(tool, wl):
    if tool == "xargs -P curl" and wl.kind == "discard":
        return ("one curl process per job: 100k+ forks at several ms of CPU each "
                "(see its CPU µs/job in (a)) is minutes per run; its memory does not depend on the list "
                "length (xargs streams the list, each curl holds one URL), so "
                "(e)'s question does not apply")
    if wl.jobs >= 1_000_000 and tool in SKIP_1M:
        return "skipped at 1M jobs (SKIP_1M_TOOLS was given)"
    return None


# ---------------------------------------------------------------------------
# verification

def verify_files(wl, out):
    try:
        ents = {e.name: e for e in os.scandir(out)}
    except FileNotFoundError:
        return "output directory missing"
    want = set(wl.names)
    got = set(ents)
    if got != want:
        missing, extra = sorted(want - got), sorted(got - want)
        return (f"{len(got)} entries, want {len(want)}; missing {len(missing)} "
                f"{missing[:3]}, extra {len(extra)} {extra[:3]}")
    bad = [n for n in wl.names if not ents[n].is_file(follow_symlinks=False)
           or ents[n].stat().st_size != wl.size]
    if bad:
        return (f"{len(bad)} files with the wrong size or type, e.g. {bad[0]}: "
                f"{ents[bad[0]].stat().st_size} bytes, want {wl.size}")
    if wl.sha:
        for n, want_sum in wl.sha.items():
            h = hashlib.sha256()
            with open(os.path.join(out, n), "rb") as f:
                while True:
                    b = f.read(8 * MIB)
                    if not b:
                        break
                    h.update(b)
            if h.hexdigest() != want_sum:
                return f"{n}: sha256 mismatch"
    return None


def verify_sink(wl, sink):
    want = wl.jobs * len(TINY)
    try:
        size = os.path.getsize(sink)
    except FileNotFoundError:
        return "no output"
    if size != want:
        return f"{size} bytes of bodies, want {want} ({wl.jobs} x {len(TINY)})"
    blk = TINY * 65536
    with open(sink, "rb") as f:
        while True:
            b = f.read(len(blk))
            if not b:
                break
            if b != blk[:len(b)]:
                return "body bytes differ from the tiny file's content"
    return None


def verify_reqwest_stdout(wl, text):
    m = re.search(r"ok (\d+) bytes (\d+)", text)
    if not m:
        return "no 'ok N bytes B' line"
    jobs, b = int(m.group(1)), int(m.group(2))
    if jobs != wl.jobs or b != wl.jobs * len(TINY):
        return f"ok {jobs} bytes {b}, want {wl.jobs} and {wl.jobs * len(TINY)}"
    return None


def verify_aria2_discard(wl, out):
    n, bad = 0, 0
    for e in os.scandir(out):
        n += 1
        if e.stat().st_size != len(TINY):
            bad += 1
    if n != wl.jobs or bad:
        return f"{n} files, want {wl.jobs}; {bad} of the wrong size"
    return None


# ---------------------------------------------------------------------------
# one measured run

def parse_time(path):
    lines = [l for l in open(path).read().splitlines() if l.strip()]
    for l in reversed(lines):
        f = l.split()
        if len(f) == 4:
            try:
                return float(f[0]), float(f[1]) + float(f[2]), int(f[3])
            except ValueError:
                continue
    return None


# Every measured run gets TMPDIR on tmpfs (jfetch -O - holds each body in
# memory, spilling past 64 KiB to a file there, before copying it to
# stdout; /tmp may be a disk).
RUN_ENV = dict(os.environ)


def run_one(tool, wl, rep, tmp, bins):
    tag = f"{wl.key}-{tool_key(tool)}-{rep}"
    out = os.path.join(tmp, "out", tag)
    os.makedirs(out)
    sink = os.path.join(tmp, "out", tag + ".sink")
    argv, stdout_to = commands(tool, wl, out, sink, bins)
    tf = os.path.join(tmp, "out", tag + ".time")
    ef = os.path.join(tmp, "out", tag + ".stderr")
    of = stdout_to or os.path.join(tmp, "out", tag + ".stdout")
    full = ["/usr/bin/time", "-o", tf, "-f", "%e %U %S %M"] + argv
    res = {"tool": tool, "rep": rep}
    with open(of, "wb") as so, open(ef, "wb") as se:
        wall = None
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdout=so, stderr=se, stdin=subprocess.DEVNULL,
                             cwd=out, start_new_session=True, env=RUN_ENV)
        children.append(p)
        try:
            rc = p.wait(timeout=RUN_TIMEOUT)
            wall = time.perf_counter() - t0
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            rc = None
        children.remove(p)
    t = parse_time(tf) if os.path.exists(tf) else None
    if t and wall is not None:
        # wall from perf_counter (time's %e has 10 ms steps; the two agree
        # within a few ms: /usr/bin/time's own start-up)
        res["wall"], res["cpu"], res["rss_kib"] = wall, t[1], t[2]
    err = None
    if rc is None:
        err = f"timed out after {RUN_TIMEOUT}s"
    elif rc != 0:
        first = open(ef, errors="replace").read().strip().splitlines()
        err = f"exit status {rc}" + (f": {first[0][:160]}" if first else "")
    elif not t or wall is None:
        err = "no timing"
    if not err:
        if wl.kind == "files":
            err = verify_files(wl, out)
        elif tool == "aria2c":
            err = verify_aria2_discard(wl, out)
        elif tool == "reqwest":
            err = verify_reqwest_stdout(wl, open(of, errors="replace").read())
        else:
            err = verify_sink(wl, sink)
    if err:
        res["error"] = err
        keep = os.path.join(tmp, "failed-" + tag + ".stderr")
        shutil.copy(ef, keep)
    shutil.rmtree(out, ignore_errors=True)
    for f in (sink, tf, ef, of):
        if os.path.exists(f):
            os.remove(f)
    return res


def probe_query_list(bins, nb, tmp):
    """The brief's first form for (e) was /tiny?i=N: every URL distinct, but
    every last path segment the same.  Record what jfetch does with such a
    list when bodies go to stdout (the measured runs use /e/N instead)."""
    lst = os.path.join(tmp, "lists", "query.txt")
    with open(lst, "w") as f:
        f.writelines(f"{nb}/tiny?i={i}\n" for i in range(1000))
    r = subprocess.run([bins.jfetch, "-q", "-j", str(CONC), "-i", lst, "-O", "-"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    first = (r.stderr.strip().splitlines() or [""])[0].replace(tmp, "$TMP")
    if r.returncode == 0:
        return ("Check: jfetch `-O -` on a 1,000-line list of /tiny?i=N URLs (same last "
                "path segment) exits 0.")
    return (f"Check: jfetch `-i LIST -O -` on a 1,000-line list of /tiny?i=N URLs (distinct "
            f"URLs, same last path segment) **refuses the list**: exit status {r.returncode}, "
            f"`{first}` — it checks output-name collisions even when every body goes to "
            f"stdout; curl, wget2, reqwest-fetch (and aria2c with per-URI out=) take such a "
            f"list. That is why (e) uses /e/N.")


# ---------------------------------------------------------------------------
# wrk

WRK_LUA = {
    "rotate": """
local i = 0
request = function()
  i = i %% %(n)d + 1
  return wrk.format(nil, string.format("%(fmt)s", i))
end
""",
}


def run_wrk(wl, tmp, port, conc):
    if wl.key in ("a", "b"):
        n = len(wl.names)
        fmt = f"/{wl.key}/f%05d.bin"
        lua = os.path.join(tmp, f"wrk-{wl.key}.lua")
        open(lua, "w").write(WRK_LUA["rotate"] % {"n": n, "fmt": fmt})
        url, extra = f"http://127.0.0.1:{port}/", ["-s", lua]
    elif wl.key == "c":
        # a 256 MiB response takes longer than wrk's 2 s default timeout
        url, extra = f"http://127.0.0.1:{port}/c/f00001.bin", ["--timeout", "60s"]
    elif wl.key == "d":
        lua = os.path.join(tmp, "wrk-d.lua")
        open(lua, "w").write(WRK_LUA["rotate"] % {"n": 1000000, "fmt": "/delay/50/bytes/100/d%07d.bin"})
        url, extra = f"http://127.0.0.1:{port}/", ["-s", lua]
    else:
        lua = os.path.join(tmp, "wrk-e.lua")
        open(lua, "w").write(WRK_LUA["rotate"] % {"n": 100000000, "fmt": "/e/%d"})
        url, extra = f"http://127.0.0.1:{port}/", ["-s", lua]
    secs = WRK_SECONDS * 2 if wl.key == "c" else WRK_SECONDS
    argv = ["wrk", "-t1", f"-c{conc}", f"-d{secs}s"] + extra + [url]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=secs + 90)
    m = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
    t = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", r.stdout)
    if not m:
        log("wrk failed:", r.stdout, r.stderr)
        return None
    mult = {"B": 1, "KB": KIB, "MB": MIB, "GB": 1024 * MIB}
    bps = float(t.group(1)) * mult[t.group(2)] if t else None
    errs = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    sock = re.search(r"Socket errors: (.*)", r.stdout)
    return {"rps": float(m.group(1)), "bps": bps, "argv": argv,
            "non2xx": int(errs.group(1)) if errs else 0,
            "sockerr": sock.group(1) if sock else ""}


# ---------------------------------------------------------------------------
# report

def med(xs):
    return statistics.median(xs) if xs else None


def summarize(wl, runs):
    rows = {}
    for tool in TOOLS:
        rs = [r for r in runs if r["tool"] == tool]
        if not rs:
            continue
        if "skipped" in rs[0]:
            rows[tool] = {"skipped": rs[0]["skipped"]}
            continue
        ok = [r for r in rs if "error" not in r]
        bad = [r for r in rs if "error" in r]
        row = {"n": len(rs), "nok": len(ok),
               "errors": sorted({r["error"] for r in bad})}
        if ok:
            row["wall"] = med([r["wall"] for r in ok])
            row["cpu"] = med([r["cpu"] for r in ok])
            row["rss"] = med([r["rss_kib"] for r in ok])
            row["rps"] = wl.jobs / row["wall"]
            row["mbps"] = wl.total_bytes / MIB / row["wall"]
        rows[tool] = row
    return rows


def fmt_num(x, nd=2):
    if x is None:
        return "—"
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{nd}f}"


def table(wl, rows, wrk, extra_note=""):
    thru_unit = "MiB/s" if wl.unit == "MiB/s" else "req/s"
    out = [f"### ({wl.key}) {wl.title}", ""]
    per_hdr = "CPU s/GiB" if thru_unit == "MiB/s" else "CPU µs/job"
    hdr = (f"| tool | median wall s | {thru_unit} | CPU s (user+sys) | {per_hdr} "
           f"| peak RSS MiB | jfetch ÷ this ({thru_unit}) | runs ok |")
    out += [hdr, "|" + "---|" * 8]
    peers = {t: r for t, r in rows.items() if t != "jfetch" and r.get("nok")
             and not r.get("errors")}
    best = min(peers, key=lambda t: peers[t]["wall"]) if peers else None
    jf = rows.get("jfetch")
    jf_ok = jf and jf.get("nok") and not jf.get("errors")
    for tool, r in rows.items():
        if "skipped" in r:
            out.append(f"| {tool} | skipped: {r['skipped']} | | | | | | |")
            continue
        name = tool + (" (best peer)" if tool == best else "")
        if r.get("errors"):
            name += " **FAILED**"
        if not r.get("nok"):
            out.append(f"| {name} | FAILED {r['n']}/{r['n']}: {'; '.join(r['errors'])} | | | | | | 0/{r['n']} |")
            continue
        thru = r["mbps"] if thru_unit == "MiB/s" else r["rps"]
        ratio = "—"
        if jf_ok and tool != "jfetch":
            ratio = f"{r['wall'] / jf['wall']:.2f}"  # jfetch thru / this thru
        per = (f"{r['cpu'] / (wl.total_bytes / (1024 * MIB)):.2f}" if thru_unit == "MiB/s"
               else f"{r['cpu'] / wl.jobs * 1e6:.1f}")
        out.append(f"| {name} | {r['wall']:.3f} | {fmt_num(thru)} | {r['cpu']:.2f} "
                   f"| {per} | {r['rss'] / 1024:.1f} | {ratio} "
                   f"| {r['nok']}/{r['n']} |")
    out.append("")
    if jf_ok and best:
        b = peers[best]
        out.append(f"jfetch vs best peer ({best}, by wall time): throughput ratio "
                   f"**{b['wall'] / jf['wall']:.2f}** (= {best} wall ÷ jfetch wall = jfetch "
                   f"{thru_unit} ÷ {best} {thru_unit}; >1: jfetch faster), wall ratio "
                   f"{jf['wall'] / b['wall']:.2f} (jfetch wall ÷ {best} wall; <1: jfetch faster), "
                   f"CPU ratio {jf['cpu'] / b['cpu']:.2f}, peak RSS ratio {jf['rss'] / b['rss']:.2f}.")
    elif not jf_ok and jf:
        out.append("jfetch **FAILED** this workload: " + "; ".join(jf.get("errors", [])))
    for tool, r in rows.items():
        if r.get("errors") and r.get("nok"):
            out.append(f"{tool} failed {r['n'] - r['nok']}/{r['n']} runs (medians above are of the "
                       f"runs that passed): {'; '.join(r['errors'])}")
    if wrk:
        rps = med([w["rps"] for w in wrk])
        bps = med([w["bps"] for w in wrk if w["bps"]])
        shown = " ".join(os.path.basename(x) if x.endswith(".lua") else x for x in wrk[0]["argv"])
        if thru_unit == "MiB/s" and bps:
            line = (f"wrk ceiling (`{shown}`, median of {len(wrk)}): **{bps / MIB:,.0f} MiB/s** "
                    f"({rps:,.1f} req/s)")
            if jf_ok:
                line += f"; jfetch reaches {jf['mbps'] / (bps / MIB) * 100:.0f}% of it"
        else:
            line = f"wrk ceiling (`{shown}`, median of {len(wrk)}): **{rps:,.0f} req/s**"
            if jf_ok:
                line += f"; jfetch reaches {jf['rps'] / rps * 100:.0f}% of it"
        if any(w["non2xx"] or w["sockerr"] for w in wrk):
            line += f" (wrk reported errors: {[(w['non2xx'], w['sockerr']) for w in wrk]})"
        out.append(line + ".")
    if extra_note:
        out.append(extra_note)
    out.append("")
    return out


def raw_lines(wl, runs, wrk):
    out = []
    for r in runs:
        if "skipped" in r:
            continue
        v = (f"wall {r['wall']:.3f} cpu {r['cpu']:.2f} rss {r['rss_kib']}KiB"
             if "wall" in r else "no timing")
        out.append(f"  ({wl.key}) rep {r['rep']} {r['tool']}: {v}"
                   + (f"  FAILED: {r['error']}" if "error" in r else ""))
    for i, w in enumerate(wrk):
        out.append(f"  ({wl.key}) rep {i} wrk: {w['rps']:.0f} req/s")
    return out


# ---------------------------------------------------------------------------

def versions(bins):
    def first(argv, stream="stdout"):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            s = (r.stdout if stream == "stdout" else r.stderr) or r.stdout or r.stderr
            return s.strip().splitlines()[0]
        except Exception as e:  # noqa: BLE001
            return f"? ({e})"
    jv = subprocess.run([bins.jfetch, "--version"], capture_output=True, text=True).stdout.strip().splitlines()
    lock = os.path.join(os.path.dirname(bins.reqwest), "..", "..", "Cargo.lock")
    lockv = {}
    if os.path.exists(lock):
        cur = None
        for l in open(lock):
            m = re.match(r'name = "(.*)"', l)
            if m:
                cur = m.group(1)
            m = re.match(r'version = "(.*)"', l)
            if m and cur in ("tokio", "reqwest", "hyper"):
                lockv[cur] = m.group(1)
    cpu = "?"
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
    return [
        f"- jfetch: {' / '.join(jv)} (Release, {bins.jfetch_commit})",
        f"- curl: {first(['curl', '--version'])}",
        f"- aria2c: {first(['aria2c', '--version'])}",
        f"- wget2: {first(['wget2', '--version'])}",
        f"- xargs: {first(['xargs', '--version'])}",
        f"- reqwest-fetch: reqwest {lockv.get('reqwest', '?')}, hyper {lockv.get('hyper', '?')}, "
        f"tokio {lockv.get('tokio', '?')} (Debian's crates), {first(['rustc', '--version'])}",
        f"- wrk: {first(['wrk', '-v'])}",
        f"- nginx: {first(['nginx', '-v'], 'stderr')}",
        f"- faultsrv: tests/server at {bins.jfetch_commit}",
        f"- kernel {os.uname().release}, CPU {cpu}, nproc {os.cpu_count()}",
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jfetch", required=True)
    ap.add_argument("--faultsrv", required=True)
    ap.add_argument("--reqwest", required=True)
    ap.add_argument("--nginx", default="nginx")
    ap.add_argument("--results", required=True)
    ap.add_argument("--cmdline", required=True)
    ap.add_argument("--jfetch-commit", default="?")
    bins = ap.parse_args()
    for k in ("jfetch", "faultsrv", "reqwest", "results"):
        setattr(bins, k, os.path.abspath(getattr(bins, k)))
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    t_start = time.time()
    load_before = open("/proc/loadavg").read().split()[:3]
    tmp = tempfile.mkdtemp(prefix="jfetch-peers.", dir="/dev/shm")
    os.chmod(tmp, 0o755)  # nginx workers may run as nobody
    try:
        return body(bins, tmp, t_start, load_before)
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); stopping")
        return 130
    finally:
        stop_children()
        if os.environ.get("KEEP") == "1":
            log("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def body(bins, tmp, t_start, load_before):
    www = os.path.join(tmp, "www")
    ngtmp = os.path.join(tmp, "nginx")
    os.makedirs(ngtmp)
    os.makedirs(os.path.join(tmp, "out"))
    os.makedirs(os.path.join(tmp, "tmpdir"))
    RUN_ENV["TMPDIR"] = os.path.join(tmp, "tmpdir")
    log(f"generating data under {www}")
    names_a = [f"f{i:05d}.bin" for i in range(1, 5001)]
    names_b = [f"f{i:05d}.bin" for i in range(1, 201)]
    names_c = [f"f{i:05d}.bin" for i in range(1, 5)]
    gen_files(os.path.join(www, "a"), names_a, 4 * KIB, False)
    gen_files(os.path.join(www, "b"), names_b, MIB, False)
    sha_c = gen_files(os.path.join(www, "c"), names_c, 256 * MIB, True) if "c" in WORKLOADS else {}
    with open(os.path.join(www, "tiny"), "wb") as f:
        f.write(TINY)
    for dp, dns, fns in os.walk(www):
        os.chmod(dp, 0o755)
        for fn in fns:
            os.chmod(os.path.join(dp, fn), 0o644)

    ng, nport = start_nginx(bins.nginx, www, ngtmp)
    fs, fport = start_faultsrv(bins.faultsrv, tmp)
    log(f"nginx pid {ng.pid} on 127.0.0.1:{nport}, faultsrv pid {fs.pid} on 127.0.0.1:{fport}")
    nb = f"http://127.0.0.1:{nport}"

    wls = []
    if "a" in WORKLOADS:
        wls.append(Workload("a", "5,000 files of 4 KiB", "files",
                            [f"{nb}/a/{n}" for n in names_a], names_a, 4 * KIB))
    if "b" in WORKLOADS:
        wls.append(Workload("b", "200 files of 1 MiB", "files",
                            [f"{nb}/b/{n}" for n in names_b], names_b, MIB, unit="MiB/s"))
    if "c" in WORKLOADS:
        wls.append(Workload("c", "4 files of 256 MiB (sha256 checked)", "files",
                            [f"{nb}/c/{n}" for n in names_c], names_c, 256 * MIB,
                            sha=sha_c, unit="MiB/s"))
    if "d" in WORKLOADS:
        names_d = [f"d{i:04d}.bin" for i in range(1, 2001)]
        wls.append(Workload("d", "2,000 requests answered after 50 ms (faultsrv)", "files",
                            [f"http://127.0.0.1:{fport}/delay/50/bytes/100/{n}" for n in names_d],
                            names_d, 100))
    if "e" in WORKLOADS:
        wls.append(Workload("e100k", "100,000 tiny jobs from one list, bodies discarded",
                            "discard", [f"{nb}/e/{i}" for i in range(100_000)], size=len(TINY)))
        if RUNS_1M > 0:
            wls.append(Workload("e1m", "1,000,000 tiny jobs from one list, bodies discarded",
                                "discard", [f"{nb}/e/{i}" for i in range(1_000_000)],
                                size=len(TINY), runs=RUNS_1M))
    for wl in wls:
        write_lists(wl, tmp)
    probe = probe_query_list(bins, nb, tmp) if "e" in WORKLOADS else None

    results = {}
    for wl in wls:
        runs, wrk = [], []
        nrep = wl.runs
        if QUICK and wl.key == "c":
            nrep = 1
        for rep in range(nrep):
            k = rep % len(TOOLS)
            order = TOOLS[k:] + TOOLS[:k]
            for tool in order:
                why = skip_reason(tool, wl)
                if why:
                    if rep == 0:
                        runs.append({"tool": tool, "rep": rep, "skipped": why})
                    continue
                r = run_one(tool, wl, rep, tmp, bins)
                runs.append(r)
                log(f"({wl.key}) rep {rep + 1}/{nrep} {tool:14s} "
                    + (f"wall {r['wall']:.3f}s cpu {r['cpu']:.2f}s rss {r['rss_kib'] / 1024:.1f}MiB"
                       if "wall" in r else "")
                    + (f"  FAILED: {r['error']}" if "error" in r else ""))
            if wl.key != "e1m":
                port = fport if wl.key == "d" else nport
                w = run_wrk(wl, tmp, port, 4 if wl.key == "c" else CONC)
                if w:
                    wrk.append(w)
                    log(f"({wl.key}) rep {rep + 1}/{nrep} wrk            {w['rps']:.0f} req/s")
        results[wl.key] = (wl, runs, wrk)

    # ---- report ---------------------------------------------------------------
    elapsed = time.time() - t_start
    load_after = open("/proc/loadavg").read().split()[:3]
    md = ["# jfetch against its peers", "",
          f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
          f"- command: `{bins.cmdline}` (total time {elapsed / 60:.1f} min, including data "
          f"generation and verification)",
          f"- machine: nproc {os.cpu_count()}; load average (1/5/15 min) before "
          f"{' '.join(load_before)}, after {' '.join(load_after)} (other work may share the cores)",
          f"- repetitions: {RUNS} per workload (medians), tools alternating in a rotating order "
          f"within each repetition; 1M-job list: {RUNS_1M}; concurrency {CONC} for every tool",
          "- server: nginx, its own config (tests/bench/peers/nginx.conf.in): 127.0.0.1, "
          "worker_processes 1, sendfile on, access_log off, keepalive_requests 1000000, "
          "root on tmpfs; (d) uses faultsrv (tests/server, one thread). Server and client share "
          "the same 2 cores; the CPU column counts the client only.",
          "- outputs: a fresh directory on tmpfs (/dev/shm) per run (and TMPDIR on tmpfs too: "
          "jfetch `-O -` holds each body in memory, past 64 KiB in a file in TMPDIR, before copying it to stdout), "
          "removed after verification "
          "(exact set of names, every size; sha256 for (c); for (e) the concatenated bodies' "
          "size and bytes)",
          "- CPU (user+sys) and peak RSS from `/usr/bin/time -f '%e %U %S %M'`, wall from the "
          "driver's clock around it (%e has 10 ms steps); for "
          "`xargs -P curl` the CPU includes every curl, but the peak RSS is that of the largest "
          "single process (getrusage reports the maximum, not the sum of 64 concurrent curls)",
          "", "Versions:", ""] + versions(bins) + ["", "Commands (LIST = URL list, one a line; "
          "CFG = the same as curl `url = \"...\"` lines; OUT = the run's fresh output dir):", ""]
    cmdnotes = {
        "jfetch": f"`jfetch -q -j {CONC} -i LIST -o OUT` ((e): `-O - > SINK`); default --threads "
                  f"(one per CPU)",
        "curl -Z": f"`curl -Z --parallel-max {CONC} -s -S --no-progress-meter --fail "
                   f"--output-dir OUT --remote-name-all -K CFG` ((e): bodies to stdout > SINK)",
        "aria2c": f"`aria2c -q -j {CONC} -i LIST -d OUT --deferred-input=true "
                  f"--file-allocation=none --auto-file-renaming=false --allow-overwrite=true "
                  f"--summary-interval=0 --console-log-level=error --download-result=hide "
                  f"--disable-ipv6=true --max-tries=1` (one connection per download, its default "
                  f"-x 1); (e): aria2 can neither discard bodies nor append them to one file, so "
                  f"its 16-byte files land in OUT (tmpfs) and are counted",
        "wget2": f"`wget2 --no-config -q --max-threads={CONC} -i LIST -P OUT` ((e): `-O SINK`)",
        "xargs -P curl": f"`xargs -a LIST -d '\\n' -P {CONC} -n 1 curl -s -S --fail "
                         f"--output-dir OUT -O` (one curl process per URL)",
        "reqwest": f"`reqwest-fetch LIST {CONC} OUT|-` (tests/bench/reqwest: tokio::spawn per "
                   f"URL, each task takes a Semaphore({CONC}) permit, one shared "
                   f"reqwest::Client, body streamed with Response::chunk() to tokio::fs::File, "
                   f"or counted and dropped for (e); #[tokio::main] multi-thread runtime)",
    }
    md += [f"- {t}: {cmdnotes[t]}" for t in TOOLS] + [""]
    md += ["Columns: *median wall s* over the runs that passed verification; *req/s* = jobs ÷ "
           "median wall, *MiB/s* = bytes ÷ median wall; *CPU s* = user+sys of the client "
           "(children included); *CPU µs/job* = CPU s ÷ jobs; *peak RSS MiB* = max resident set; "
           "*jfetch ÷ this* = jfetch's throughput ÷ this tool's throughput (= this tool's wall ÷ "
           "jfetch's wall): above 1 means jfetch is faster. A run that fails (exit status, "
           "timeout, or verification) makes the row **FAILED**; a failed peer is not a "
           "candidate for best peer.", ""]
    for key in [w.key for w in wls]:
        wl, runs, wrk = results[key]
        note = ""
        if key == "d":
            ideal = wl.jobs * 0.050 / CONC
            rows = summarize(wl, runs)
            j = rows.get("jfetch", {})
            note = (f"Ideal for (d): {wl.jobs} × 50 ms ÷ {CONC} = **{ideal:.4f} s** "
                    f"({wl.jobs / ideal:,.0f} req/s)")
            if j.get("nok"):
                note += f"; jfetch's median is {(j['wall'] / ideal - 1) * 100:+.1f}% from it"
            rounds = -(-wl.jobs // CONC)
            note += (f". With {CONC} in flight some connection serves ⌈{wl.jobs}/{CONC}⌉ = "
                     f"{rounds} requests one after another, so {rounds} × 50 ms = "
                     f"{rounds * 0.05:.3f} s is the least any client can take")
            if wrk:
                per = CONC / med([w["rps"] for w in wrk])
                note += (f"; with faultsrv's own latency under wrk ({CONC} ÷ wrk req/s = "
                         f"{per * 1000:.1f} ms a request) it is {rounds * per:.3f} s")
                if j.get("nok"):
                    note += f", and jfetch is {(j['wall'] / (rounds * per) - 1) * 100:+.1f}% from that"
            note += "."
        if key == "e100k":
            note = ("(e) URLs are /e/N (nginx answers every one with the same 16-byte file). "
                    "Bodies are discarded: jfetch `-O -`, curl and wget2 write them to one file "
                    "on tmpfs whose size and bytes are checked, reqwest-fetch counts them, "
                    "aria2c writes 100k files (it has no way to discard). " + (probe or ""))
        if key == "c":
            note = ("With 4 files the effective concurrency is 4 for every tool; wrk uses -c4 "
                    "on one of the files.")
        md += table(wl, summarize(wl, runs), wrk, note)
    if "e100k" in results and "e1m" in results:
        md += ["### (e) memory as the job count grows", "",
               "| tool | peak RSS 100k MiB | peak RSS 1M MiB | bytes per extra queued job "
               "(RSS(1M) − RSS(100k)) ÷ 900k | req/s 100k | req/s 1M |", "|---|---|---|---|---|---|"]
        r1 = summarize(results["e100k"][0], results["e100k"][1])
        r2 = summarize(results["e1m"][0], results["e1m"][1])
        for tool in TOOLS:
            a, b = r1.get(tool, {}), r2.get(tool, {})
            if "skipped" in a:
                md.append(f"| {tool} | skipped: {a['skipped']} | | | | |")
                continue
            if "skipped" in b:
                md.append(f"| {tool} | {a['rss'] / 1024:.1f} | skipped at 1M (SKIP_1M_TOOLS) | — "
                          f"| {a['rps']:,.0f} | — |" if a.get("nok") else f"| {tool} | FAILED | | | | |")
                continue
            if not a.get("nok") or not b.get("nok"):
                ca = "FAILED" if not a.get("nok") else "%.1f" % (a["rss"] / 1024)
                cb = "FAILED" if not b.get("nok") else "%.1f" % (b["rss"] / 1024)
                md.append(f"| {tool} | {ca} | {cb} | — | | |")
                continue
            per = (b["rss"] - a["rss"]) * 1024 / 900_000
            md.append(f"| {tool} | {a['rss'] / 1024:.1f} | {b['rss'] / 1024:.1f} | {per:,.1f} "
                      f"| {a['rps']:,.0f} | {b['rps']:,.0f} |")
        md.append("")
    md += ["## Every run", "", "```"]
    for key in [w.key for w in wls]:
        md += raw_lines(*results[key])
    md += ["```", ""]
    text = "\n".join(md)
    print(text)
    os.makedirs(os.path.dirname(bins.results), exist_ok=True)
    with open(bins.results, "w") as f:
        f.write(text)
    log(f"wrote {bins.results} ({elapsed / 60:.1f} min)")
    failed = [f"({k}) {r['tool']} rep {r['rep']}" for k, (_, runs, _) in results.items()
              for r in runs if "error" in r]
    if failed:
        log(f"{len(failed)} run(s) FAILED (see the tables): {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
