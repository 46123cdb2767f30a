#!/usr/bin/env python3
"""--check decides exactly as the run does, on the same inputs.

usage: check_agrees.py JFETCH FAULTSRV

A table of argument lists and job files, good and bad.  Each row runs
twice, each time in a fresh directory: `jfetch --check ARGS` and the real
`jfetch ARGS` against faultsrv.  They must agree: both exit 2 or neither
does, and when they do, the run's error line is --check's first error
line, word for word.  Each row also says which it must be (the table is
not vacuous: a row that both accept wrongly fails too), and --check must
leave its directory as it found it (it fetches and creates nothing).
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile

BIG = "c" * 256  # one path component past NAME_MAX

# (name, args, files, stdin, env, bad): {U} is faultsrv's base URL
ROWS = [
    ("one URL to stdout", ["{U}/bytes/5/a.bin"], {}, None, {}, False),
    ("-O FILE, URL ending in /", ["-O", "out.bin", "{U}/bytes/5/"], {},
     None, {}, False),
    ("-O FILE, job without a file name",
     ["-O", "out.bin", "--jobs", "one.json"],
     {"one.json": '[{"url": "{U}/bytes/5/"}]'}, None, {}, False),
    ("-O FILE, two URLs", ["-O", "out.bin", "{U}/bytes/5/a", "{U}/bytes/5/b"],
     {}, None, {}, True),
    ("-O FILE, no job", ["-O", "out.bin", "--jobs", "none.json"],
     {"none.json": "[]"}, None, {}, True),
    ("-O dir/", ["-O", "dir/", "{U}/bytes/5/a"], {}, None, {}, True),
    ("-O FILE, stdin", ["-O", "out.bin", "-i", "-"], {}, "{U}/bytes/5/a\n",
     {}, True),
    ("-o, two URLs", ["-o", "out", "{U}/bytes/5/a", "{U}/bytes/6/b"], {},
     None, {}, False),
    ("-o, URL without a file name", ["-o", "out", "{U}/bytes/5/"], {}, None,
     {}, True),
    ("-o, two jobs one file", ["-o", "out", "{U}/bytes/5/a", "{U}/bytes/6/a"],
     {}, None, {}, True),
    ("list file", ["-i", "list.txt", "-o", "out"],
     {"list.txt": "{U}/bytes/5/a\n# c\n{U}/bytes/6/b\n"}, None, {}, False),
    ("list file, bad URL", ["-i", "list.txt", "-o", "out"],
     {"list.txt": "{U}/bytes/5/a\nftp://x/y\n"}, None, {}, True),
    ("stdin, bad URL", ["-i", "-", "-o", "out"], {},
     "{U}/bytes/5/a\nnot a url\n", {}, True),
    ("job file output_dir", ["--jobs", "j.json"],
     {"j.json": '{"defaults": {"output_dir": "sub"}, '
      '"jobs": [{"url": "{U}/bytes/5/a"}]}'}, None, {}, False),
    ("job file output_dir absolute", ["--jobs", "j.json", "-o", "out"],
     {"j.json": '{"defaults": {"output_dir": "/tmp/x"}, '
      '"jobs": [{"url": "{U}/bytes/5/a"}]}'}, None, {}, True),
    ("job file duplicate id", ["--jobs", "j.json", "-o", "out"],
     {"j.json": '[{"url": "{U}/bytes/5/a", "id": "x"},\n'
      ' {"url": "{U}/bytes/5/b", "id": "x"}]'}, None, {}, True),
    ("job file output over NAME_MAX", ["--jobs", "j.json", "-o", "out"],
     {"j.json": '[{"url": "{U}/bytes/5/a", "output": "d/%s"}]' % BIG},
     None, {}, True),
    ("job file header control byte", ["--jobs", "j.jsonl", "-o", "out"],
     {"j.jsonl": '{"url": "{U}/bytes/5/a", "headers": {"X": "a\\u0001"}}\n'},
     None, {}, True),
    ("-H control byte", ["-H", "X: a\x01", "-o", "out", "{U}/bytes/5/a"], {},
     None, {}, True),
    ("-H with a tab", ["-H", "X: a\tb", "-o", "out", "{U}/bytes/5/a"], {},
     None, {}, False),
    ("--format unknown variable", ["--format", "%{nope}", "-o", "out",
                                   "{U}/bytes/5/a"], {}, None, {}, True),
    ("--format, then a bad URL", ["--format", "%{nope}", "-o", "out",
                                  "http://"], {}, None, {}, True),
    ("--shard auto, malformed MIN", ["--shard", "auto", "-o", "out",
                                     "{U}/bytes/5/a"], {}, None,
     {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "2x",
      "SLURM_ARRAY_TASK_COUNT": "4"}, True),
    ("-o names a file", ["-o", "f.txt", "{U}/bytes/5/a"], {"f.txt": "x"},
     None, {}, True),
    ("-o below a file", ["-o", "f.txt/sub/d", "{U}/bytes/5/a"],
     {"f.txt": "x"}, None, {}, True),
    ("-O FILE below a file", ["-O", "f.txt/out.bin", "{U}/bytes/5/a"],
     {"f.txt": "x"}, None, {}, True),
    ("-o, new nested directories", ["-o", "new/a//b/", "{U}/bytes/5/a"], {},
     None, {}, False),
    ("-O FILE, new directory", ["-O", "new/out.bin", "{U}/bytes/5/a"], {},
     None, {}, False),
    ("-i missing file", ["-i", "missing.txt", "-o", "out"], {}, None, {},
     True),
    ("job file syntax error, -o", ["--jobs", "j.json", "-o", "out"],
     {"j.json": '[{"url": "{U}/bytes/5/a",]'}, None, {}, True),
    ("--shard 0/1, good", ["--shard", "0/1", "-o", "out", "{U}/bytes/5/a"],
     {}, None, {}, False),
]


def run(jfetch, cwd, args, stdin, env):
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("JFETCH_", "SLURM_", "JOB_COMPLETION"))}
    e.update(env)
    p = subprocess.run([jfetch] + args, cwd=cwd, env=e, timeout=60,
                       input=(stdin or "").encode(), capture_output=True)
    return p.returncode, p.stderr.decode(errors="replace").splitlines()


def listing(d):
    return sorted(os.path.relpath(os.path.join(r, n), d)
                  for r, ds, fs in os.walk(d) for n in ds + fs)


def fill(v, base):
    return v.replace("{U}", base)


def one_row(jfetch, tmp, base, row, i, fails):
    name, args, files, stdin, env, bad = row
    args = [fill(a, base) for a in args]
    stdin = fill(stdin, base) if stdin is not None else None
    got = {}
    for mode in ("check", "run"):
        cwd = os.path.join(tmp, "%02d-%s" % (i, mode))
        os.mkdir(cwd)
        for path, text in files.items():
            with open(os.path.join(cwd, path), "w") as f:
                f.write(fill(text, base))
        before = listing(cwd)
        argv = (["--check"] if mode == "check" else []) + args
        got[mode] = run(jfetch, cwd, argv, stdin, env)
        if mode == "check" and listing(cwd) != before:
            fails.append("%s: --check changed its directory: %s" %
                         (name, listing(cwd)))
    (cx, cerr), (rx, rerr) = got["check"], got["run"]
    what = "%s: --check exit %d %r, run exit %d %r" % (name, cx, cerr[:3],
                                                     rx, rerr[:3])
    if (cx == 2) != (rx == 2):
        fails.append("disagree: " + what)
    elif (rx == 2) != bad:
        fails.append("both %s, want %s: %s" % (
            "refuse" if rx == 2 else "accept",
            "refused" if bad else "accepted", what))
    elif bad:
        if not cerr or cerr[0] not in rerr:
            fails.append("different messages: " + what)
        elif not rerr[0].startswith("jfetch: ") or len(cerr[0]) < 12:
            fails.append("no message: " + what)
    elif cx != 0 or rx != 0:
        fails.append("good row not clean: " + what)


def main():
    jfetch, faultsrv = (os.path.abspath(a) for a in sys.argv[1:3])
    srv = subprocess.Popen([faultsrv, "--port", "0"], stdout=subprocess.PIPE)
    base = "http://127.0.0.1:%s" % srv.stdout.readline().split()[1].decode()
    tmp = tempfile.mkdtemp(prefix="jfetch-check-agrees-")
    fails = []
    try:
        for i, row in enumerate(ROWS):
            one_row(jfetch, tmp, base, row, i, fails)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    for f in fails:
        print("FAIL:", f)
    print("%d rows, %d failed" % (len(ROWS), len(fails)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
