#!/usr/bin/env python3
"""tty_check.py - the progress bar as a person at a terminal sees it.

    tty_check.py JFETCH FAULTSRV

jfetch runs on a pseudo-terminal (python's pty module) with stdout and
stderr both on it, as in an interactive shell, against faultsrv's slow
endpoints so the bar is drawn many times.  What it writes is replayed on a
small terminal model (carriage return, newline, erase to end of line;
colours ignored) and the screen is checked:

  records   --json records on the same terminal as the bar: every record
            line is a whole JSON record with no bar text glued to it, and
            the bar is still drawn after records were written;
  narrow    at 40 columns (TIOCSWINSZ): every frame fits in 39 columns and
            still shows done/total and failed (a 404 makes failed 1);
  interrupt SIGINT mid-run: exit 130, the last frame does not say 100%,
            counts the cancelled jobs apart from the failed ones
            (failed 0) and says interrupted;
  body      one URL whose body streams to that terminal: no bar drawn
            into the body;
  columns   --progress bar with stderr on a pipe: $COLUMNS=40 is the
            width (TIOCGWINSZ has no terminal to ask).

Exit 0 when every check holds, 1 otherwise (each failure printed).  Every
process started dies with this script (PDEATHSIG) and is killed by pid.
"""

import ctypes
import fcntl
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
import pty

LIBC = ctypes.CDLL(None, use_errno=True)
ERRS = []


def die_with_parent():
    LIBC.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def start_faultsrv(binary):
    p = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    line = p.stdout.readline().decode()
    m = re.fullmatch(r"PORT (\d+)\n", line)
    if not m:
        p.kill()
        sys.exit(f"faultsrv did not print its port: {line!r}")
    return p, f"http://127.0.0.1:{m.group(1)}"


def run_on_pty(argv, cwd, cols, sigint_after=None, timeout=30):
    """Runs argv with stdin, stdout and stderr on one new pty of cols
    columns; returns (exit status, every byte written to the terminal)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "NO_COLOR", "COLUMNS") and
           not k.startswith("JFETCH_")}
    env["TERM"] = "xterm"
    pid, fd = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty
        try:
            die_with_parent()
            fcntl.ioctl(1, termios.TIOCSWINSZ,
                        struct.pack("HHHH", 24, cols, 0, 0))
            os.chdir(cwd)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    out = bytearray()
    t0 = time.monotonic()
    sent = sigint_after is None
    status = None
    try:
        while True:
            if not sent and time.monotonic() - t0 >= sigint_after and \
                    b"\x1b[K" in out:
                os.kill(pid, signal.SIGINT)
                sent = True
            if time.monotonic() - t0 > timeout:
                ERRS.append(f"{argv[1:]}: still running after {timeout} s")
                break
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: every slave end is closed
                    chunk = b""
                if not chunk:
                    break
                out += chunk
    finally:
        try:
            _, st = os.waitpid(pid, os.WNOHANG)
            if _ == 0:
                os.kill(pid, signal.SIGKILL)
                _, st = os.waitpid(pid, 0)
        except ChildProcessError:
            st = 0
        status = os.waitstatus_to_exitcode(st)
        os.close(fd)
    return status, bytes(out)


SEQ = re.compile(rb"\x1b\[([0-9;?]*)([A-Za-z])")


def screen(data):
    """The lines a terminal shows after data (no wrapping, colours
    dropped): \\r to column 0, \\n down a line, ESC[K erases to the end."""
    lines, row, col = [[]], 0, 0
    i = 0
    while i < len(data):
        m = SEQ.match(data, i)
        if m:
            if m.group(2) == b"K":
                del lines[row][col:]
            i = m.end()
            continue
        c = data[i:i + 1]
        i += 1
        if c == b"\r":
            col = 0
        elif c == b"\n":
            row += 1
            col = 0
            if row == len(lines):
                lines.append([])
        else:
            ln = lines[row]
            ln.extend([b" "] * (col - len(ln)))
            if col < len(ln):
                ln[col] = c
            else:
                ln.append(c)
            col += 1
    return [b"".join(ln).decode("utf-8", "replace") for ln in lines]


def frames(data):
    """Every bar frame drawn: the text between a \\r and the next ESC[K,
    colours stripped (an empty one is the bar erased, not a frame)."""
    text = re.sub(rb"\x1b\[[0-9;]*m", b"", data)
    return [f.decode("utf-8", "replace")
            for f in re.findall(rb"\r([^\r\n\x1b]+)\x1b\[K", text)]


BAR = re.compile(r"^\[\d+(/\d+ +\d+%| done)\]")


def check_records(jf, url, work):
    urls = [f"{url}/delay/150/bytes/2000/r{i}.bin" for i in range(24)]
    st, out = run_on_pty([jf, "-j", "2", "-o", "out", "--json"] + urls,
                         work, 200)
    where = "records"
    if st != 0:
        ERRS.append(f"{where}: exit {st}, expected 0")
    lines = screen(out)
    recs = [ln for ln in lines if "{" in ln]
    if len(recs) != len(urls):
        ERRS.append(f"{where}: {len(recs)} record lines on the screen, "
                    f"expected {len(urls)}")
    for ln in recs:
        try:
            rec = json.loads(ln)
            if rec.get("outcome") != "ok":
                ERRS.append(f"{where}: record not ok: {ln[:200]!r}")
        except ValueError:
            ERRS.append(f"{where}: record line is not one whole JSON "
                        f"record (bar text glued to it?): {ln[:200]!r}")
    fr = frames(out)
    if len(fr) < 3:
        ERRS.append(f"{where}: the bar was drawn {len(fr)} times, "
                    "expected several (is it on?)")
    # the bar comes back after records: a frame after the first record
    first_rec = out.find(b'{"index"')
    if first_rec < 0 or b"\x1b[K" not in out[first_rec:].replace(
            b"\r\x1b[K", b""):
        ERRS.append(f"{where}: no bar frame drawn after the first record")
    print(f"records: {len(recs)} record lines, {len(fr)} frames, exit {st}")


def check_narrow(jf, url, work):
    urls = [f"{url}/delay/100/bytes/5000/n{i}.bin" for i in range(15)]
    urls.append(f"{url}/status/404/missing.bin")
    st, out = run_on_pty([jf, "-j", "2", "-o", "out"] + urls, work, 40)
    where = "narrow (40 columns)"
    if st != 1:
        ERRS.append(f"{where}: exit {st}, expected 1 (one 404)")
    fr = frames(out)
    if len(fr) < 3:
        ERRS.append(f"{where}: only {len(fr)} frames drawn")
    for f in fr:
        if len(f) > 39:
            ERRS.append(f"{where}: frame of {len(f)} columns: {f!r}")
        if not re.match(r"^\[\d+/16 +\d+%\]", f) or \
                not re.search(r"failed \d+", f):
            ERRS.append(f"{where}: frame lacks done/total or failed: {f!r}")
    if fr and "failed 1" not in fr[-1]:
        ERRS.append(f"{where}: last frame does not count the 404: "
                    f"{fr[-1]!r}")
    print(f"narrow: {len(fr)} frames, widest "
          f"{max(map(len, fr)) if fr else 0} columns, last {fr[-1:]!r}")


def check_interrupt(jf, url, work):
    urls = [f"{url}/bytes/100/f{i}.bin" for i in range(4)]
    urls += [f"{url}/delay/5000/bytes/100/s{i}.bin" for i in range(26)]
    st, out = run_on_pty([jf, "-j", "4", "-o", "out"] + urls, work, 200,
                         sigint_after=1.0)
    where = "interrupt"
    if st != 130:
        ERRS.append(f"{where}: exit {st}, expected 130")
    fr = frames(out)
    if not fr:
        ERRS.append(f"{where}: no frame drawn")
        return
    last = fr[-1]
    m = re.search(r"cancelled (\d+)", last)
    if "100%" in last or "30/30" in last:
        ERRS.append(f"{where}: the last frame says the run is complete: "
                    f"{last!r}")
    if not m or int(m.group(1)) < 1:
        ERRS.append(f"{where}: the last frame shows no cancelled count: "
                    f"{last!r}")
    if "failed 0" not in last:
        ERRS.append(f"{where}: cancelled jobs counted as failed: {last!r}")
    if "interrupted" not in last:
        ERRS.append(f"{where}: the last frame does not say interrupted: "
                    f"{last!r}")
    print(f"interrupt: exit {st}, last frame {last!r}")


def check_body(jf, url, work):
    st, out = run_on_pty([jf, f"{url}/delay/400/bytes/64/b.bin"], work, 120)
    where = "body"
    if st != 0:
        ERRS.append(f"{where}: exit {st}, expected 0")
    if frames(out):
        ERRS.append(f"{where}: a bar was drawn while the body streamed to "
                    f"the same terminal: {frames(out)[:3]!r}")
    print(f"body: exit {st}, {len(frames(out))} frames")


def check_columns_env(jf, url, work):
    """--progress bar with stderr on no terminal: the width is $COLUMNS."""
    urls = [f"{url}/delay/100/bytes/5000/c{i}.bin" for i in range(8)]
    env = {k: v for k, v in os.environ.items()
           if k != "CI" and not k.startswith("JFETCH_")}
    env["COLUMNS"] = "40"
    p = subprocess.run([jf, "--progress", "bar", "-j", "2", "-o", "out"] +
                       urls, cwd=work, env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30,
                       preexec_fn=die_with_parent)
    where = "COLUMNS=40 (stderr a pipe)"
    fr = frames(p.stderr)
    if p.returncode != 0 or len(fr) < 2:
        ERRS.append(f"{where}: exit {p.returncode}, {len(fr)} frames")
    for f in fr:
        if len(f) > 39 or "failed 0" not in f:
            ERRS.append(f"{where}: frame of {len(f)} columns: {f!r}")
    print(f"columns: {len(fr)} frames, widest "
          f"{max(map(len, fr)) if fr else 0} columns")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    jf, fs = map(os.path.abspath, sys.argv[1:])
    srv, url = start_faultsrv(fs)
    work = tempfile.mkdtemp(prefix="jfetch-tty-")
    try:
        for check in (check_records, check_narrow, check_interrupt,
                      check_body, check_columns_env):
            d = os.path.join(work, check.__name__)
            os.mkdir(d)
            check(jf, url, d)
    finally:
        srv.kill()
        srv.wait()
        shutil.rmtree(work, ignore_errors=True)
    for e in ERRS:
        print("FAIL " + e)
    return 1 if ERRS else 0


if __name__ == "__main__":
    sys.exit(main())
