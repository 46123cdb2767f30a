#!/usr/bin/env python3
"""run_case.py - runs one jfetch integration case (a JSON file) against real
servers on 127.0.0.1 and checks what the built binary did.

    run_case.py --jfetch BIN --faultsrv BIN [--nginx BIN] [--keep] CASE.json...

Exit status: 0 every case passed, 1 a case failed, 77 a case was skipped
(it needs nginx and there is none), 2 the case file itself is broken.

Like curl's tests/data/testNNNN, a case is data only: the servers it needs,
the files it starts with, the command line, and what must come out.  This
script is the only code.  Each case runs in a fresh temporary directory:

    BASE/           mkdtemp; nothing but case/ and srv/ may appear here
      case/         jfetch's working directory ({TMP}); "files" go here
      srv/          faultsrv's log, nginx's config, logs, temp dirs, www/

Every process started (servers, jfetch) dies with this script (prctl
PDEATHSIG) and is stopped by pid in a finally block, pass or fail; a
jfetch still running at "timeout" is killed and the case fails.

THE CASE FILE (every key optional unless marked)
------------------------------------------------
  "name":     str, required; "description": str (what and why)
  "timeout":  seconds before jfetch is killed (default 30); CMake gives
              ctest this plus a margin (--slow-factor F, for sanitizer
              builds, multiplies it and max_seconds, and skips max_rss_kib)
  "server":   "faultsrv" | "nginx" | "both" | "none" (default "faultsrv")
  "generate": {"G": {"count": N, "size": S}}  named item lists for big
              cases; each item has {i} (0..N-1) and {size}, where S is an
              int, {"cycle": [ints]} or {"min": a, "max": b, "seed": s}
              (Python's random.Random(seed), so the same on every run)
  "files":    {"PATH": TEXT | {"gen": "G", "line": TPL, "header": TEXT,
              "sep": TEXT (default "\\n"), "end": TEXT (default "\\n"),
              "footer": TEXT}} written under case/ before the run (a
              generated file is header, the items' lines joined by sep,
              end, footer)
  "dirs":     ["PATH", ...] directories to create under case/
  "symlinks": {"PATH": "TARGET"} symbolic links to create under case/
  "www":      {"PATH": TEXT | {"size": N, "seed": S}} files nginx serves
              (random bytes from the seed), or {"gen": "G", "name": TPL,
              "seed": S} under the key "*" for one file per item
  "env":      {"NAME": "VALUE"} added to the environment (JFETCH_* from
              the caller's environment are removed first)
  "args":     [str, ...] jfetch's arguments
  "stdin":    TEXT fed to jfetch, or {"file": "PATH"} (a file under case/),
              optionally with "keep_open": true (the pipe stays open until
              jfetch exits, like a producer that never ends); no "stdin":
              /dev/null
  "signals":  [{"name": "INT"|"TERM", "after_records": N} or
              {"name": ..., "after_ms": MS}] sent in order; after_records
              waits for N lines on jfetch's stdout, after_ms counts from
              the previous signal (or the start)

Templates: in every string (and key) of files, www, args, env, stdin and
expect, {URL} is faultsrv's base (http://127.0.0.1:PORT), {NGINX} nginx's,
{TMP} the case dir, {DEADPORT} a port bound by nobody listening (connection
refused), and in per-item places {i} and {size}.  A string that is exactly
"{i}" or "{size}" becomes the integer itself.  Unknown {names} stay as they
are, so JSON text in "files" needs no escaping.

"expect": what must hold afterwards (every failed check is reported).
Always checked, whatever the case says: jfetch ended by itself before
"timeout", did not die of a signal, wrote no sanitizer report on stderr,
and every signal in "signals" was sent.
  "exit":            jfetch's exit status (an int, or a matcher)
  "max_seconds":     jfetch's wall time must stay below this
  "min_seconds":     ... and above this
  "max_rss_kib":     jfetch's peak resident set size (VmHWM, sampled every
                     5 ms while it runs) must stay below this
  "stdout":          {"empty": true} | {"text": T} | {"pattern": N} (the
                     faultsrv /bytes/N body) | {"www": "PATH"} |
                     {"json": M} | {"regex": R} | {"pieces_any_order":
                     [piece, ...]} (the stdout is every piece, each whole,
                     in some order; a piece is {"pattern": N}, {"text": T}
                     or {"www": P}) | {"starts_with": piece, "rest": S} (the
                     stdout begins with that piece, and what follows it
                     matches the stdout spec S: a body, then a record)
  "stderr_contains": [T, ...]; "stderr_not_contains": [T, ...]
  "stderr_regex":    [R, ...] (re.search, MULTILINE)
  "stderr_lines":    exact number of lines on stderr
  "records":         stdout must be JSON Lines, one record per line; every
                     record is checked for the documented schema (every key
                     there with its type, outcome/error_kind/error/path
                     consistent; keys added later are allowed); then
    "count": N|M     exactly N records (or a matcher: {"max": 3})
    "every_index": N every index 0..N-1 exactly once, and nothing else
    "all": M         every record matches M
    "by_index": {"I": M}, "by_id": {"ID": M}   (the record must exist)
    "count_where": [{"where": M, "exactly"|"min"|"max": N}]
    "for_each": {"gen": "G", "offset": K, "match": M} record K+i matches M
                     (templated per item)
  "files":      {"PATH": F}  each must be a regular file (PATH under case/,
                or absolute); F: {"size": N, "pattern": true (content is
                the /bytes body of its size), "text": T, "json": M, "www":
                "PATH" (byte-identical to that www file), "sha256": HEX}
  "for_each_file": {"gen": "G", "path": TPL, "check": F}
  "absent":     ["PATH", ...]  nothing (not even a dangling link) there
  "present":    ["PATH", ...]  something there
  "dirs_exactly": {"DIR": ["REL", ...] | {"gen": "G", "name": TPL,
                "plus": [...]}}  the regular files, links and empty dirs
                under DIR (recursively, relative) are exactly these
  "record_files": {"dir": "out", "started_cancel_error": R}  for every
                record, NAME = the percent-decoded last segment of its URL
                path: outcome ok -> DIR/NAME exists, sized as "bytes";
                otherwise DIR/NAME is absent; a cancelled record whose
                error matches R (it was running) keeps DIR/NAME.part; an
                app_error or panicked one leaves no DIR/NAME.part
  "server_requests": {"faultsrv": N|M, "nginx": N|M}  requests the server
                saw (faultsrv's --log, nginx's access log)
  "only_case_dir": true (the default) BASE holds nothing but case/, srv/

A matcher M is compared with a JSON value: a dict with one of the keys
"regex" (re.search on a string), "not_null", "null", "one_of", "min"/"max"
(numbers), "not" (M must not match), "len" (a list's length) is that test;
any other dict is a subset match (listed keys must match, recursively); a
list matches elementwise with the same length; anything else must be equal
(with its JSON type: 1 is not "1").
"""

import argparse
import ctypes
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

SKIP = 77
SLOW = [1.0]  # --slow-factor
RECORD_KEYS = {
    "index": int, "id": (str, type(None)), "url": str,
    "effective_url": (str, type(None)), "outcome": str,
    "error_kind": (str, type(None)), "error": (str, type(None)),
    "http_status": (int, type(None)), "bytes": int, "path": (str, type(None)),
    "elapsed_ms": int, "attempts": int,
}
OUTCOMES = {"ok", "app_error", "panicked", "cancelled"}
ERROR_KINDS = {"http_status", "dns", "connect", "tls", "timeout", "network",
               "protocol", "redirect", "io", "size", "other", "panic",
               "cancelled", "checksum"}


class BadCase(Exception):
    """The case file is wrong (not the binary)."""


# ---- the faultsrv body --------------------------------------------------

def _pattern_period():
    # byte i = (i*31+7) ^ (i>>8) mod 256; i*31 mod 256 repeats every 256
    # bytes and (i>>8) mod 256 every 65536, so one 64 KiB tile is enough
    return bytes(((i * 31 + 7) ^ (i >> 8)) & 0xFF for i in range(65536))


_TILE = _pattern_period()
_pattern_cache = {}


def pattern(n):
    """The body of faultsrv's /bytes/n."""
    if n not in _pattern_cache:
        reps = n // len(_TILE) + 1
        body = (_TILE * reps)[:n] if n > len(_TILE) else _TILE[:n]
        if len(_pattern_cache) > 64:
            _pattern_cache.clear()
        _pattern_cache[n] = body
    return _pattern_cache[n]


# ---- templates ----------------------------------------------------------

_TPL = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def subst(v, env):
    """Fills {NAME} placeholders in every string and key of v."""
    if isinstance(v, str):
        m = _TPL.fullmatch(v)
        if m and m.group(1) in env and isinstance(env[m.group(1)], int):
            return env[m.group(1)]
        return _TPL.sub(lambda m: str(env[m.group(1)])
                        if m.group(1) in env else m.group(0), v)
    if isinstance(v, list):
        return [subst(x, env) for x in v]
    if isinstance(v, dict):
        return {subst(k, env): subst(x, env) for k, x in v.items()}
    return v


def make_items(spec):
    out = {}
    for name, g in spec.items():
        n = g["count"]
        size = g.get("size", 0)
        if isinstance(size, int):
            sizes = [size] * n
        elif "cycle" in size:
            sizes = [size["cycle"][i % len(size["cycle"])] for i in range(n)]
        else:
            r = random.Random(size.get("seed", 0))
            sizes = [r.randint(size["min"], size["max"]) for _ in range(n)]
        out[name] = [{"i": i, "size": sizes[i]} for i in range(n)]
    return out


# ---- matching -----------------------------------------------------------

def match(exp, act, where, errs):
    """Appends to errs why act does not match exp; returns whether it did."""
    n0 = len(errs)
    if isinstance(exp, dict) and len(exp) >= 1 and set(exp) <= {
            "regex", "not_null", "null", "one_of", "min", "max", "not", "len"}:
        if "regex" in exp and not (isinstance(act, str) and
                                   re.search(exp["regex"], act)):
            errs.append(f"{where}: {act!r} does not match /{exp['regex']}/")
        if exp.get("not_null") and act is None:
            errs.append(f"{where}: is null")
        if exp.get("null") and act is not None:
            errs.append(f"{where}: {act!r} is not null")
        if "one_of" in exp and act not in exp["one_of"]:
            errs.append(f"{where}: {act!r} is not one of {exp['one_of']!r}")
        for k, bad in (("min", lambda a, b: a < b), ("max", lambda a, b: a > b)):
            if k in exp and not (isinstance(act, (int, float)) and
                                 not isinstance(act, bool) and
                                 not bad(act, exp[k])):
                errs.append(f"{where}: {act!r} is not {k} {exp[k]}")
        if "not" in exp and match(exp["not"], act, where, []):
            errs.append(f"{where}: {act!r} matches {exp['not']!r}, must not")
        if "len" in exp and not (isinstance(act, (list, str, dict)) and
                                 len(act) == exp["len"]):
            errs.append(f"{where}: length of {act!r} is not {exp['len']}")
    elif isinstance(exp, dict):
        if not isinstance(act, dict):
            errs.append(f"{where}: expected an object, got {act!r}")
        else:
            for k, e in exp.items():
                if k not in act:
                    errs.append(f"{where}.{k}: missing")
                else:
                    match(e, act[k], f"{where}.{k}", errs)
    elif isinstance(exp, list):
        if not isinstance(act, list) or len(act) != len(exp):
            errs.append(f"{where}: expected {exp!r}, got {act!r}")
        else:
            for i, (e, a) in enumerate(zip(exp, act)):
                match(e, a, f"{where}[{i}]", errs)
    elif type(exp) is not type(act) or exp != act:
        errs.append(f"{where}: expected {exp!r}, got {act!r}")
    return len(errs) == n0


# ---- processes ----------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


class Procs:
    """Every child of this case, stopped by pid in stop_all."""

    def __init__(self):
        self.list = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, preexec_fn=_die_with_parent, **kw)
        self.list.append(p)
        return p

    def stop_all(self):
        for p in self.list:
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.list:
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        self.list = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_faultsrv(procs, binary, srv):
    log = os.path.join(srv, "faultsrv.log")
    p = procs.start([binary, "--port", "0", "--log", log],
                    stdout=subprocess.PIPE, stderr=open(
                        os.path.join(srv, "faultsrv.err"), "wb"),
                    stdin=subprocess.DEVNULL)
    line = p.stdout.readline().decode()  # "PORT <n>" once listening
    m = re.fullmatch(r"PORT (\d+)\n", line)
    if not m:
        raise RuntimeError(f"faultsrv did not print its port (got {line!r})")
    p.stdout.close()
    return f"http://127.0.0.1:{m.group(1)}", log


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {srv}/nginx.pid;
error_log {srv}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log {srv}/nginx-access.log;
  client_body_temp_path {srv}/tmp/body;
  proxy_temp_path {srv}/tmp/proxy;
  fastcgi_temp_path {srv}/tmp/fastcgi;
  uwsgi_temp_path {srv}/tmp/uwsgi;
  scgi_temp_path {srv}/tmp/scgi;
  default_type application/octet-stream;
  sendfile on;
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{port};
    root {srv}/www;
    location / {{ }}
  }}
}}
"""


def start_nginx(procs, binary, srv):
    os.makedirs(os.path.join(srv, "tmp"), exist_ok=True)
    conf = os.path.join(srv, "nginx.conf")
    for _ in range(5):  # the port may be taken between probe and bind
        port = free_port()
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(srv=srv, port=port))
        err = open(os.path.join(srv, "nginx.stderr"), "wb")
        p = procs.start([binary, "-p", srv, "-e",
                         os.path.join(srv, "nginx-error.log"), "-c", conf],
                        stdout=err, stderr=err, stdin=subprocess.DEVNULL)
        t_end = time.monotonic() + 10
        while time.monotonic() < t_end and p.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return f"http://127.0.0.1:{port}", \
                    os.path.join(srv, "nginx-access.log")
            except OSError:
                time.sleep(0.02)
        if p.poll() is None:
            raise RuntimeError("nginx did not start listening")
    raise RuntimeError("nginx could not start: " + open(
        os.path.join(srv, "nginx.stderr")).read()[-2000:])


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


# ---- preparing ----------------------------------------------------------

def write_inputs(case, cdir, srv, env, items):
    for d in case.get("dirs", []):
        os.makedirs(os.path.join(cdir, subst(d, env)), exist_ok=True)
    for path, spec in case.get("files", {}).items():
        path = os.path.join(cdir, subst(path, env))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(spec, str):
            data = subst(spec, env)
        else:
            sep = spec.get("sep", "\n")
            lines = [subst(spec["line"], {**env, **it})
                     for it in items[spec["gen"]]]
            data = (subst(spec.get("header", ""), env) + sep.join(lines) +
                    spec.get("end", "\n") + subst(spec.get("footer", ""), env))
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(str(data))
    for path, target in case.get("symlinks", {}).items():
        path = os.path.join(cdir, subst(path, env))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(subst(target, env), path)
    www = os.path.join(srv, "www")
    os.makedirs(www, exist_ok=True)
    for path, spec in case.get("www", {}).items():
        if path == "*":
            for it in items[spec["gen"]]:
                name = subst(spec["name"], {**env, **it})
                r = random.Random(f"{spec.get('seed', 0)}/{it['i']}")
                put_www(www, name, r.randbytes(it["size"]))
        elif isinstance(spec, str):
            put_www(www, path, subst(spec, env).encode())
        else:
            put_www(www, path, random.Random(spec.get("seed", 0)).randbytes(
                spec["size"]))


def put_www(www, rel, data):
    path = os.path.join(www, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---- running jfetch -----------------------------------------------------

class Run:
    def __init__(self):
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.lines = 0
        self.status = None
        self.wall = 0.0
        self.killed = False
        self.maxrss_kib = 0
        self.lock = threading.Lock()


def peak_rss_kib(pid):
    """jfetch's VmHWM so far.  Not wait4's ru_maxrss: that one keeps the
    high-water mark of the forked Python child from before the exec."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _reader(stream, run, is_out):
    while True:
        b = stream.read1(65536) if hasattr(stream, "read1") else \
            stream.read(65536)
        if not b:
            break
        with run.lock:
            if is_out:
                run.stdout += b
                run.lines += b.count(b"\n")
            else:
                run.stderr += b


def _feeder(stream, data, keep_open, done):
    try:
        stream.write(data)
        stream.flush()
        if keep_open:
            done.wait()
        stream.close()
    except (BrokenPipeError, OSError):
        pass


def run_jfetch(case, jfetch, cdir, env, procs):
    run = Run()
    penv = {k: v for k, v in os.environ.items() if not k.startswith("JFETCH_")}
    penv.update({k: str(subst(v, env)) for k, v in case.get("env", {}).items()})
    args = [jfetch] + [str(a) for a in subst(case.get("args", []), env)]
    stdin = case.get("stdin")
    data, keep_open = None, False
    if isinstance(stdin, str):
        data = subst(stdin, env).encode()
    elif isinstance(stdin, dict):
        with open(os.path.join(cdir, stdin["file"]), "rb") as f:
            data = f.read()
        keep_open = stdin.get("keep_open", False)
    timeout = case.get("timeout", 30) * SLOW[0]
    t0 = time.monotonic()
    p = procs.start(args, cwd=cdir, env=penv, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.PIPE if data is not None
                    else subprocess.DEVNULL)
    done = threading.Event()
    threads = [threading.Thread(target=_reader, args=(p.stdout, run, True)),
               threading.Thread(target=_reader, args=(p.stderr, run, False))]
    if data is not None:
        threads.append(threading.Thread(target=_feeder,
                                        args=(p.stdin, data, keep_open, done)))
    for t in threads:
        t.daemon = True
        t.start()
    pending = list(case.get("signals", []))
    t_mark = t0
    while p.poll() is None:
        run.maxrss_kib = max(run.maxrss_kib, peak_rss_kib(p.pid))
        now = time.monotonic()
        if now - t0 > timeout:
            run.killed = True
            p.kill()
            break
        if pending:
            sig = pending[0]
            with run.lock:
                lines = run.lines
            due = ("after_records" in sig and lines >= sig["after_records"]) \
                or ("after_ms" in sig and
                    (now - t_mark) * 1000 >= sig["after_ms"])
            if due:
                os.kill(p.pid, getattr(signal, "SIG" + sig["name"]))
                pending.pop(0)
                t_mark = now
        time.sleep(0.005)
    run.status = p.wait()
    run.wall = time.monotonic() - t0
    done.set()
    for t in threads:
        t.join(timeout=5)
    run.args = args
    run.unsent_signals = pending
    return run


# ---- checking -----------------------------------------------------------

def check_stdout(spec, out, www, errs):
    if spec.get("empty") and out:
        errs.append(f"stdout: expected nothing, got {len(out)} bytes: "
                    f"{bytes(out[:200])!r}")
    if "text" in spec and out.decode("utf-8", "replace") != spec["text"]:
        errs.append(f"stdout: expected {spec['text']!r}, got "
                    f"{bytes(out[:300])!r}")
    if "pattern" in spec and out != pattern(spec["pattern"]):
        errs.append(f"stdout: not the {spec['pattern']}-byte /bytes body "
                    f"({len(out)} bytes, {first_diff(out, pattern(spec['pattern']))})")
    if "www" in spec and out != read_www(www, spec["www"]):
        errs.append(f"stdout: differs from www/{spec['www']} ({len(out)} bytes)")
    if "regex" in spec and not re.search(spec["regex"],
                                         out.decode("utf-8", "replace")):
        errs.append(f"stdout: does not match /{spec['regex']}/: "
                    f"{bytes(out[:300])!r}")
    if "json" in spec:
        try:
            doc = json.loads(out)
            match(spec["json"], doc, "stdout", errs)
        except ValueError as e:
            errs.append(f"stdout: not JSON ({e}): {bytes(out[:300])!r}")
    if "starts_with" in spec:
        head = piece_bytes(spec["starts_with"], www)
        if not out.startswith(head):
            errs.append(f"stdout: does not start with the {len(head)}-byte "
                        f"piece ({first_diff(out[:len(head)], head)})")
        else:
            check_stdout(spec.get("rest", {}), out[len(head):], www, errs)
    if "pieces_any_order" in spec:
        pieces = [piece_bytes(pc, www) for pc in spec["pieces_any_order"]]
        if not concat_any_order(bytes(out), pieces):
            errs.append(f"stdout: is not the {len(pieces)} bodies, each whole, "
                        f"in any order (got {len(out)} bytes, expected "
                        f"{sum(map(len, pieces))})")


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return f"first difference at byte {i}"
    return "same prefix" if len(a) != len(b) else "equal"


def piece_bytes(pc, www):
    if "pattern" in pc:
        return pattern(pc["pattern"])
    if "www" in pc:
        return read_www(www, pc["www"])
    return pc["text"].encode()


def concat_any_order(out, pieces):
    if not pieces:
        return not out
    if len(out) != sum(map(len, pieces)):
        return False
    for k, pc in enumerate(pieces):
        if out.startswith(pc) and concat_any_order(
                out[len(pc):], pieces[:k] + pieces[k + 1:]):
            return True
    return False


def read_www(www, rel):
    with open(os.path.join(www, rel), "rb") as f:
        return f.read()


def check_record_schema(r, where, errs):
    if not isinstance(r, dict):
        errs.append(f"{where}: not an object: {r!r}")
        return False
    for k, t in RECORD_KEYS.items():
        if k not in r:
            errs.append(f"{where}: key {k!r} missing")
        elif not isinstance(r[k], t) or isinstance(r[k], bool):
            errs.append(f"{where}: {k} has the wrong type: {r[k]!r}")
    if any(k not in r for k in RECORD_KEYS):
        return False
    o = r["outcome"]
    if o not in OUTCOMES:
        errs.append(f"{where}: unknown outcome {o!r}")
    if o == "ok":
        if r["error_kind"] is not None or r["error"] is not None:
            errs.append(f"{where}: ok but error_kind/error set")
        if r["path"] is None:
            errs.append(f"{where}: ok but path is null")
    else:
        if r["error_kind"] not in ERROR_KINDS:
            errs.append(f"{where}: {o} with error_kind {r['error_kind']!r}")
        if not r["error"]:
            errs.append(f"{where}: {o} without an error message")
        if r["path"] is not None:
            errs.append(f"{where}: {o} but path is {r['path']!r}")
        want = {"panicked": "panic", "cancelled": "cancelled"}.get(o)
        if want and r["error_kind"] != want:
            errs.append(f"{where}: {o} with error_kind {r['error_kind']!r}")
        if o == "app_error" and r["error_kind"] in ("panic", "cancelled"):
            errs.append(f"{where}: app_error with error_kind "
                        f"{r['error_kind']!r}")
    return True


def check_records(spec, out, items, env, errs):
    recs = []
    for n, line in enumerate(bytes(out).split(b"\n")[:-1], 1):
        try:
            recs.append(json.loads(line))
        except ValueError:
            errs.append(f"stdout line {n} is not JSON: {line[:200]!r}")
    if out and not out.endswith(b"\n"):
        errs.append(f"stdout does not end with a newline: {bytes(out[-200:])!r}")
    good = [r for n, r in enumerate(recs)
            if check_record_schema(r, f"record {n + 1}", errs)]
    by_index = {}
    for r in good:
        by_index.setdefault(r["index"], []).append(r)
    if "count" in spec:
        match(spec["count"], len(recs), "number of records", errs)
    if "every_index" in spec:
        n = spec["every_index"]
        dup = sorted(i for i, rs in by_index.items() if len(rs) > 1)
        missing = sorted(set(range(n)) - set(by_index))
        extra = sorted(set(by_index) - set(range(n)))
        if dup or missing or extra or len(recs) != n:
            errs.append(f"records: every index 0..{n - 1} exactly once: "
                        f"{len(recs)} records, duplicated {dup[:20]}, "
                        f"missing {missing[:20]} ({len(missing)}), "
                        f"unexpected {extra[:20]}")
    if "all" in spec:
        bad = 0
        for r in good:
            e = []
            if not match(spec["all"], r, f"record #{r['index']}", e):
                bad += 1
                if bad <= 5:
                    errs.extend(e)
        if bad > 5:
            errs.append(f"... {bad} records in all do not match 'all'")
    for idx, m in spec.get("by_index", {}).items():
        rs = by_index.get(int(idx))
        if not rs:
            errs.append(f"records: no record with index {idx}")
        else:
            match(m, rs[0], f"record #{idx}", errs)
    ids = {r["id"]: r for r in good}
    for rid, m in spec.get("by_id", {}).items():
        if rid not in ids:
            errs.append(f"records: no record with id {rid!r}")
        else:
            match(m, ids[rid], f"record id {rid!r}", errs)
    for cw in spec.get("count_where", []):
        n = sum(1 for r in good if match(cw["where"], r, "", []))
        if "exactly" in cw and n != cw["exactly"]:
            errs.append(f"records: {n} match {cw['where']}, expected "
                        f"exactly {cw['exactly']}")
        if "min" in cw and n < cw["min"]:
            errs.append(f"records: {n} match {cw['where']}, expected at "
                        f"least {cw['min']}")
        if "max" in cw and n > cw["max"]:
            errs.append(f"records: {n} match {cw['where']}, expected at "
                        f"most {cw['max']}")
    fe = spec.get("for_each")
    if fe:
        bad = 0
        for it in items[fe["gen"]]:
            idx = fe.get("offset", 0) + it["i"]
            rs = by_index.get(idx)
            e = []
            if not rs:
                e.append(f"records: no record with index {idx}")
            else:
                match(subst(fe["match"], {**env, **it}), rs[0],
                      f"record #{idx}", e)
            if e:
                bad += 1
                if bad <= 5:
                    errs.extend(e)
        if bad > 5:
            errs.append(f"... {bad} records in all fail for_each")
    return good


def case_path(cdir, p):
    return p if os.path.isabs(p) else os.path.join(cdir, p)


def check_file(path, spec, www, where, errs):
    if os.path.islink(path) or not os.path.isfile(path):
        errs.append(f"{where}: not a regular file"
                    + (" (missing)" if not os.path.lexists(path) else ""))
        return
    with open(path, "rb") as f:
        data = f.read()
    if "size" in spec and len(data) != spec["size"]:
        errs.append(f"{where}: size {len(data)}, expected {spec['size']}")
    if spec.get("pattern") and data != pattern(len(data)):
        errs.append(f"{where}: content is not the /bytes body "
                    f"({first_diff(data, pattern(len(data)))})")
    if "text" in spec and data != spec["text"].encode():
        errs.append(f"{where}: expected {spec['text']!r}, got {data[:300]!r}")
    if "www" in spec:
        ref = read_www(www, spec["www"])
        if data != ref:
            errs.append(f"{where}: differs from www/{spec['www']} ({len(data)} "
                        f"vs {len(ref)} bytes, {first_diff(data, ref)})")
    if "sha256" in spec and hashlib.sha256(data).hexdigest() != spec["sha256"]:
        errs.append(f"{where}: sha256 differs")
    if "json" in spec:
        try:
            match(spec["json"], json.loads(data), where, errs)
        except ValueError as e:
            errs.append(f"{where}: not JSON ({e}): {data[:300]!r}")


def tree(d):
    """Regular files, links and empty directories under d, relative."""
    out = set()
    for root, dirs, files in os.walk(d):
        rel = os.path.relpath(root, d)
        for name in files + [x for x in dirs
                             if os.path.islink(os.path.join(root, x))]:
            out.add(os.path.normpath(os.path.join(rel, name)))
        if not dirs and not files and rel != ".":
            out.add(rel + "/")
    return out


def url_name(url):
    path = urllib.parse.urlsplit(url).path
    return urllib.parse.unquote(path.rstrip("/").rsplit("/", 1)[-1])


def check_record_files(spec, recs, cdir, errs):
    d = case_path(cdir, spec["dir"])
    started = spec.get("started_cancel_error")
    bad = 0
    for r in recs:
        e = []
        name = os.path.join(d, url_name(r["url"]))
        where = f"record #{r['index']} ({os.path.relpath(name, cdir)})"
        if r["outcome"] == "ok":
            if not os.path.isfile(name):
                e.append(f"{where}: ok but the file is missing")
            elif os.path.getsize(name) != r["bytes"]:
                e.append(f"{where}: {os.path.getsize(name)} bytes on disk, "
                         f"record says {r['bytes']}")
        else:
            if os.path.lexists(name):
                e.append(f"{where}: {r['outcome']} but the final file exists")
            part = os.path.lexists(name + ".part")
            if r["outcome"] == "cancelled" and started and \
                    re.search(started, r["error"] or "") and not part:
                e.append(f"{where}: cancelled while running, .part missing")
            if r["outcome"] in ("app_error", "panicked") and part:
                e.append(f"{where}: {r['outcome']} but .part left behind")
        if e:
            bad += 1
            if bad <= 8:
                errs.extend(e)
    if bad > 8:
        errs.append(f"... {bad} records in all fail record_files")


def check(case, run, cdir, base, srv, env, items, logs, errs):
    exp = subst(case.get("expect", {}), env)
    www = os.path.join(srv, "www")
    if run.killed:
        errs.append(f"jfetch still running after "
                    f"{case.get('timeout', 30) * SLOW[0]} s: killed")
    if run.unsent_signals:
        errs.append(f"jfetch exited before these signals were due: "
                    f"{run.unsent_signals}")
    if "exit" in exp:
        match(exp["exit"], run.status, "exit status", errs)
    if run.status is not None and run.status < 0:
        errs.append(f"jfetch died of signal {-run.status}")
    if "max_seconds" in exp and run.wall > exp["max_seconds"] * SLOW[0]:
        errs.append(f"took {run.wall:.2f} s, limit "
                    f"{exp['max_seconds'] * SLOW[0]} s")
    if "max_rss_kib" in exp and SLOW[0] == 1 and \
            run.maxrss_kib > exp["max_rss_kib"]:
        errs.append(f"peak RSS {run.maxrss_kib} KiB, limit "
                    f"{exp['max_rss_kib']} KiB")
    if "min_seconds" in exp and run.wall < exp["min_seconds"]:
        errs.append(f"took {run.wall:.2f} s, expected at least "
                    f"{exp['min_seconds']} s")
    err_text = run.stderr.decode("utf-8", "replace")
    for bad in ("AddressSanitizer", "LeakSanitizer", "ThreadSanitizer",
                "runtime error:"):
        if bad in err_text:  # a sanitizer build's report
            errs.append(f"stderr has a sanitizer report ({bad})")
    for t in exp.get("stderr_contains", []):
        if t not in err_text:
            errs.append(f"stderr lacks {t!r}")
    for t in exp.get("stderr_not_contains", []):
        if t in err_text:
            errs.append(f"stderr has {t!r}")
    for rx in exp.get("stderr_regex", []):
        if not re.search(rx, err_text, re.M):
            errs.append(f"stderr does not match /{rx}/")
    if "stderr_lines" in exp and err_text.count("\n") != exp["stderr_lines"]:
        errs.append(f"stderr has {err_text.count(chr(10))} lines, expected "
                    f"{exp['stderr_lines']}")
    if "stdout" in exp:
        check_stdout(exp["stdout"], bytes(run.stdout), www, errs)
    recs = []
    if "records" in exp or "record_files" in exp:
        recs = check_records(exp.get("records", {}), bytes(run.stdout),
                             items, env, errs)
    for p, spec in exp.get("files", {}).items():
        check_file(case_path(cdir, p), spec, www, p, errs)
    fe = exp.get("for_each_file")
    if fe:
        n0 = len(errs)
        for it in case_items(items, fe["gen"]):
            ienv = {**env, **it}
            p = subst(fe["path"], ienv)
            e = []
            check_file(case_path(cdir, p), subst(fe["check"], ienv), www, p, e)
            if e and len(errs) - n0 < 8:
                errs.extend(e)
            elif e:
                errs.append(f"... and more for_each_file failures")
                break
    for p in exp.get("absent", []):
        if os.path.lexists(case_path(cdir, p)):
            errs.append(f"{p}: exists, must not")
    for p in exp.get("present", []):
        if not os.path.lexists(case_path(cdir, p)):
            errs.append(f"{p}: missing")
    for d, want in exp.get("dirs_exactly", {}).items():
        if isinstance(want, dict):
            want = [subst(want["name"], {**env, **it})
                    for it in items[want["gen"]]] + want.get("plus", [])
        full = case_path(cdir, d)
        have = tree(full) if os.path.isdir(full) else None
        if have is None:
            errs.append(f"{d}/: not a directory")
            continue
        want = set(os.path.normpath(w) + ("/" if w.endswith("/") else "")
                   for w in want)
        if have != want:
            errs.append(f"{d}/: unexpected {sorted(have - want)[:20]}, "
                        f"missing {sorted(want - have)[:20]}")
    if "record_files" in exp:
        check_record_files(exp["record_files"], recs, cdir, errs)
    for name, want in exp.get("server_requests", {}).items():
        n = count_lines(logs[name]) if name in logs else None
        if n is None:
            errs.append(f"server_requests: no {name} in this case")
        else:
            match(want, n, f"requests seen by {name}", errs)
    if exp.get("only_case_dir", True):
        extra = sorted(set(os.listdir(base)) - {"case", "srv"})
        if extra:
            errs.append(f"written outside the case dir: {extra}")


def case_items(items, name):
    if name not in items:
        raise BadCase(f"no generator {name!r}")
    return items[name]


# ---- one case -----------------------------------------------------------

def report_failure(case, run, cdir, srv, logs, errs):
    print(f"FAIL {case['name']}")
    for e in errs:
        print("  - " + e)
    if run is not None:
        print(f"  command: (cd {cdir} && {' '.join(map(repr, run.args))})")
        print(f"  exit {run.status}, {run.wall:.2f} s, peak RSS "
              f"{run.maxrss_kib} KiB")
        print("  --- stderr (last 40 lines):")
        for line in run.stderr.decode("utf-8", "replace").splitlines()[-40:]:
            print("  | " + line)
        print("  --- stdout (first 20 lines):")
        for line in bytes(run.stdout).split(b"\n")[:20]:
            print("  | " + line[:400].decode("utf-8", "replace"))
    for name, path in logs.items():
        if os.path.exists(path):
            with open(path, "rb") as f:
                tail = f.read().decode("utf-8", "replace").splitlines()[-15:]
            print(f"  --- {name} log (last 15):")
            for line in tail:
                print("  | " + line)
    listing = sorted(tree(cdir)) if os.path.isdir(cdir) else []
    print(f"  --- case dir ({len(listing)} entries, first 40): {listing[:40]}")


def run_case(path, opts):
    with open(path, encoding="utf-8") as f:
        try:
            case = json.load(f)
        except ValueError as e:
            raise BadCase(f"{path}: {e}")
    if "name" not in case:
        raise BadCase(f"{path}: no name")
    server = case.get("server", "faultsrv")
    want_fs = server in ("faultsrv", "both")
    want_ngx = server in ("nginx", "both")
    if want_ngx and not (opts.nginx and os.access(opts.nginx, os.X_OK)):
        print(f"SKIP {case['name']}: needs nginx")
        return SKIP
    base = tempfile.mkdtemp(prefix="jfetch-it-")
    cdir, srv = os.path.join(base, "case"), os.path.join(base, "srv")
    os.makedirs(cdir)
    os.makedirs(srv)
    procs = Procs()
    run = None
    logs = {}
    errs = []
    dead = socket.socket()  # bound, never listening: connection refused
    dead.bind(("127.0.0.1", 0))
    try:
        env = {"TMP": cdir, "DEADPORT": dead.getsockname()[1]}
        if want_fs:
            env["URL"], logs["faultsrv"] = start_faultsrv(procs, opts.faultsrv,
                                                          srv)
        if want_ngx:
            env["NGINX"], logs["nginx"] = start_nginx(procs, opts.nginx, srv)
        items = make_items(case.get("generate", {}))
        write_inputs(case, cdir, srv, env, items)
        run = run_jfetch(case, opts.jfetch, cdir, env, procs)
        time.sleep(0.05)  # let the servers' logs catch up
        check(case, run, cdir, base, srv, env, items, logs, errs)
    except BadCase:
        raise
    except Exception as e:  # a server that would not start, etc.
        errs.append(f"runner: {type(e).__name__}: {e}")
    finally:
        procs.stop_all()
        dead.close()
        if errs:
            report_failure(case, run, cdir, srv, logs, errs)
        if opts.keep or (errs and opts.keep_failed):
            print(f"  kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    if errs:
        return 1
    print(f"PASS {case['name']} ({run.wall:.2f} s, exit {run.status}, "
          f"peak RSS {run.maxrss_kib} KiB)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jfetch", required=True)
    ap.add_argument("--faultsrv", required=True)
    ap.add_argument("--nginx", default=shutil.which("nginx") or
                    "/usr/sbin/nginx")
    ap.add_argument("--slow-factor", type=float, default=1.0,
                    help="a sanitizer build: stretch timeout and max_seconds "
                    "by this, skip max_rss_kib")
    ap.add_argument("--keep", action="store_true",
                    help="keep every case's temporary directory")
    ap.add_argument("--keep-failed", action="store_true",
                    help="keep the temporary directory of a failed case")
    ap.add_argument("cases", nargs="+")
    opts = ap.parse_args()
    SLOW[0] = opts.slow_factor
    opts.jfetch = os.path.abspath(opts.jfetch)
    opts.faultsrv = os.path.abspath(opts.faultsrv)
    # ctest or a user stopping us: run the finally blocks, then go
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    worst = 0
    for c in opts.cases:
        try:
            rc = run_case(c, opts)
        except BadCase as e:
            print(f"BROKEN CASE {c}: {e}")
            rc = 2
        if rc == SKIP and worst == 0:
            worst = SKIP
        elif rc not in (0, SKIP):
            worst = max(worst if worst != SKIP else 0, rc)
    return worst


if __name__ == "__main__":
    sys.exit(main())
