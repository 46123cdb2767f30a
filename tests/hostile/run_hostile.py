#!/usr/bin/env python3
"""Hostile input: every case ends with a clear one-line error and exit 2
before anything is fetched, or with the job refused (exit 1), and never
writes outside the output directory.

usage: run_hostile.py JFETCH FAULTSRV

Each case runs jfetch in a fresh sandbox:
    SANDBOX/run/      the cwd; the job file is copied here
    SANDBOX/run/out/  the output directory (-o out)
    SANDBOX/outside/  a directory hostile jobs aim at; must stay as it was
Static cases are the files in files/ (the table CASES says what each must
give); generated ones (deep nesting, huge strings) are written at run time
so the repository holds no multi-megabyte inputs.  After every run the
whole sandbox is compared with a snapshot taken before: the only changes
allowed are under run/out/.  Servers are stopped by pid.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# file -> (expected exit, text the one-line error must contain)
CASES = {
    "output-dotdot.json": (2, '".." component'),
    "output-absolute.json": (2, "absolute"),
    "output-dotdot-inner.json": (2, '".." component'),
    "output-dir-dotdot.json": (2, "output_dir"),
    "output-dir-absolute.json": (2, "output_dir"),
    "output-nul-escape.json": (2, "\\u0000"),
    "scheme-file.json": (2, 'scheme "file" not allowed'),
    "scheme-ftp.json": (2, 'scheme "ftp" not allowed'),
    "scheme-gopher.json": (2, "not allowed"),
    "scheme-javascript.json": (2, "invalid URL"),
    "header-injection.jsonl": (2, "CR or LF"),
    "duplicate-key.jsonl": (2, "duplicate"),
    "url-control-char.jsonl": (2, "invalid URL"),
    "name-encoded-slash.txt": (2, "cannot name a file"),
    "name-encoded-dotdot.txt": (2, "cannot name a file"),
    # a UTF-8 byte order mark is skipped (editors on Windows write one):
    # the job runs, and fails to connect to port 1 like any other
    "utf8-bom.json": (1, ""),
    "invalid-utf8.json": (2, "UTF-8"),
    "utf8-surrogate.json": (2, "UTF-8"),
    "raw-nul.jsonl": (2, "NUL"),
    "method-injection.json": (2, "method"),
    "number-overflow.json": (2, "timeout"),
    "negative-retries.json": (2, "retries"),
    "url-malformed.json": (2, "invalid URL"),
}


def generated(port):
    """(name, bytes, expected exit, expected text) made at run time."""
    url = "http://127.0.0.1:%d" % port
    deep = b"[" * 100000 + b"]" * 100000
    huge_url = ('[{"url":"%s/%s"}]' % (url, "a" * (10 << 20))).encode()
    huge_id = ('[{"url":"%s/a.bin","id":"%s"}]' % (url, "i" * (2 << 20)))
    long_line = ("%s/%s\n" % (url, "b" * (2 << 20))).encode()
    many_keys = ("{" + ",".join('"k%d":1' % i for i in range(100000)) +
                 "}\n").encode()
    return [
        ("deep.json", deep, 2, "nested deeper"),
        ("huge-url.json", huge_url, 2, "URL"),
        ("huge-id.json", huge_id.encode(), 2, "id"),
        ("long-line.txt", long_line, 2, ":1"),
        ("many-keys.jsonl", many_keys, 2, "unknown key"),
    ]


def start_faultsrv(path):
    p = subprocess.Popen([path, "--port", "0"], stdout=subprocess.PIPE)
    line = p.stdout.readline().decode()
    if not line.startswith("PORT "):
        p.kill()
        raise SystemExit("faultsrv did not start")
    return p, int(line.split()[1])


def snapshot(root):
    """path -> (kind, size, link target) for everything under root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            kind = "l" if os.path.islink(p) else "d" if os.path.isdir(p) \
                else "f"
            out[os.path.relpath(p, root)] = (
                kind, st.st_size if kind == "f" else 0,
                os.readlink(p) if kind == "l" else None)
    return out


def fmt_args(name):
    if name.endswith(".txt"):
        return ["-i", name]
    if name.endswith(".jsonl"):
        return ["--jobs", name]
    return ["--jobs", name]


class Sandbox:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="jfetch-hostile-")
        self.run = os.path.join(self.root, "run")
        self.out = os.path.join(self.run, "out")
        self.outside = os.path.join(self.root, "outside")
        os.makedirs(self.out)
        os.makedirs(self.outside)
        with open(os.path.join(self.outside, "victim"), "w") as f:
            f.write("untouched\n")

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


def run_jfetch(jfetch, sb, args, env=None):
    e = dict(os.environ, **(env or {}))
    e.pop("JFETCH_PANIC_JOB", None)
    e.pop("JFETCH_HANG_JOB", None)
    p = subprocess.run([jfetch, "-o", "out", "--json", "-q"] + args,
                       cwd=sb.run, capture_output=True, timeout=60, env=e)
    return p.returncode, p.stdout.decode(errors="replace"), \
        p.stderr.decode(errors="replace")


def check_contained(sb, before, name, failures):
    after = snapshot(sb.root)
    for path in set(before) | set(after):
        if path.startswith("run/out/") or path == "run/out":
            continue
        if before.get(path) != after.get(path):
            failures.append("%s: %s changed outside the output directory "
                            "(%r -> %r)" % (name, path, before.get(path),
                                            after.get(path)))
    if os.path.exists("/tmp/jfetch-hostile-abs.bin"):
        failures.append("%s: wrote /tmp/jfetch-hostile-abs.bin" % name)
        os.unlink("/tmp/jfetch-hostile-abs.bin")


def case_input(jfetch, name, data, want_exit, want_text, failures):
    sb = Sandbox()
    try:
        with open(os.path.join(sb.run, name), "wb") as f:
            f.write(data)
        before = snapshot(sb.root)
        code, out, err = run_jfetch(jfetch, sb, fmt_args(name))
        lines = [l for l in err.splitlines() if l.strip()]
        if code != want_exit:
            failures.append("%s: exit %d, expected %d; stderr: %s" %
                            (name, code, want_exit, err[:300]))
        elif want_exit == 2 and (len(lines) != 1 or
                                 want_text not in lines[0]):
            failures.append("%s: expected one error line containing %r, "
                            "got %r" % (name, want_text, err[:300]))
        if want_exit == 2 and out.strip():
            failures.append("%s: records on stdout for bad input: %r" %
                            (name, out[:200]))
        check_contained(sb, before, name, failures)
        print("ok   " if not [f for f in failures if f.startswith(name)]
              else "FAIL ", name, "->", code, lines[0][:100] if lines else "")
    finally:
        sb.close()


def case_symlinks(jfetch, port, failures):
    """Links planted inside the output directory are not followed: the job
    is refused as an io error, nothing outside changes."""
    sb = Sandbox()
    try:
        os.symlink(sb.outside, os.path.join(sb.out, "link"))
        os.symlink(os.path.join(sb.outside, "victim"),
                   os.path.join(sb.out, "x.bin.part"))
        url = "http://127.0.0.1:%d/bytes/100" % port
        jobs = [{"url": url, "output": "link/owned.bin", "id": "dir"},
                {"url": url, "output": "x.bin", "id": "part"}]
        with open(os.path.join(sb.run, "j.json"), "w") as f:
            json.dump(jobs, f)
        before = snapshot(sb.root)
        code, out, err = run_jfetch(jfetch, sb, ["--jobs", "j.json"])
        recs = {json.loads(l)["id"]: json.loads(l) for l in out.splitlines()}
        for i in ("dir", "part"):
            r = recs.get(i)
            if not r or r["outcome"] != "app_error" or r["error_kind"] != "io":
                failures.append("symlinks: job %s not refused as io: %r" %
                                (i, r))
        if code != 1:
            failures.append("symlinks: exit %d, expected 1" % code)
        check_contained(sb, before, "symlinks", failures)
        with open(os.path.join(sb.outside, "victim")) as f:
            if f.read() != "untouched\n":
                failures.append("symlinks: the victim file was written")
        print("ok   " if not any(f.startswith("symlinks") for f in failures)
              else "FAIL ", "symlinked output directory and .part")
    finally:
        sb.close()


def case_redirects(jfetch, port, failures):
    """Redirects to other schemes are refused (protocol), nothing written."""
    sb = Sandbox()
    try:
        base = "http://127.0.0.1:%d/redirect-to?url=" % port
        jobs = [{"url": base + "file:///etc/passwd", "output": "a",
                 "id": "file"},
                {"url": base + "ftp://127.0.0.1/x", "output": "b",
                 "id": "ftp"},
                {"url": base + "gopher://127.0.0.1/x", "output": "c",
                 "id": "gopher"}]
        with open(os.path.join(sb.run, "j.json"), "w") as f:
            json.dump(jobs, f)
        before = snapshot(sb.root)
        code, out, err = run_jfetch(jfetch, sb, ["--jobs", "j.json"])
        for l in out.splitlines():
            r = json.loads(l)
            if r["outcome"] != "app_error" or r["error_kind"] != "protocol":
                failures.append("redirects: %s not refused: %r" %
                                (r["id"], r))
        if code != 1 or len(out.splitlines()) != 3:
            failures.append("redirects: exit %d with %d records" %
                            (code, len(out.splitlines())))
        if os.listdir(sb.out):
            failures.append("redirects: files written: %r" %
                            os.listdir(sb.out))
        check_contained(sb, before, "redirects", failures)
        print("ok   " if not any(f.startswith("redirects") for f in failures)
              else "FAIL ", "redirects to file://, ftp://, gopher://")
    finally:
        sb.close()


def main():
    jfetch, faultsrv = sys.argv[1], sys.argv[2]
    srv, port = start_faultsrv(faultsrv)
    failures = []
    try:
        for name, (code, text) in sorted(CASES.items()):
            with open(os.path.join(HERE, "files", name), "rb") as f:
                data = f.read()
            case_input(jfetch, name, data, code, text, failures)
        for name, data, code, text in generated(port):
            case_input(jfetch, name, data, code, text, failures)
        case_symlinks(jfetch, port, failures)
        case_redirects(jfetch, port, failures)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=10)
    for f in failures:
        print("FAIL:", f)
    total = len(CASES) + len(generated(port)) + 2
    bad = len({f.split(":")[0] for f in failures})
    print("%d passed, %d failed" % (total - bad, bad))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
