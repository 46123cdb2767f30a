#!/usr/bin/env python3
"""budget_check.py - size budgets for the C sources (STYLE.md: short
functions, files by concern).

  no function body over 80 lines   (from its '{' line to its '}' line)
  no file over 800 lines

unless a marker comment says why: `/* budget: <reason> */`, or a line
` * budget: <reason>` inside a block comment (the design note atop a file):
  - a function: on one of the 5 lines above the function's first line, or
    on its first two lines;
  - a file: in its first 60 lines.
A marker with an empty reason does not count.

Functions are found by brace matching at file scope on the text with
comments, string and character literals blanked out: a '{' at depth 0
that follows a ')' opens a function body (struct, enum and initializer
braces follow a name or '=').  Preprocessor lines are blanked too.

Usage: budget_check.py [--list] [DIR_OR_FILE ...] | --self-test
  default paths: src runtime tests/server tests/unit tests/fault
  --list prints every function over half the budget as well.
Exit 0 when within budget, 1 with one line per breach otherwise.
"""
import os
import re
import sys

FUNC_MAX = 80
FILE_MAX = 800
MARKER = re.compile(r"(?:/\*|^\s*\*|//)\s*budget:\s*\w")
DEFAULT = ["src", "runtime", "tests/server", "tests/unit", "tests/fault"]


def blank(text):
    """Comments, literals and preprocessor lines -> spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == "#" or (at_line_start and c in " \t" and
                                          text[i:].lstrip(" \t")[:1] == "#"):
            # a directive, with backslash continuations
            j = i
            while j < n:
                if text[j] == "\n" and text[j - 1] != "\\":
                    break
                j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
            continue
        at_line_start = False
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            if c == "\n":
                at_line_start = True
            i += 1
    return "".join(out)


def functions(text):
    """Yields (name, first_line, open_line, close_line), 1-based."""
    b = blank(text)
    depth = 0
    start = None
    for i, c in enumerate(b):
        if c == "{":
            if depth == 0:
                before = b[:i].rstrip()
                start = i if before.endswith(")") else None
                head = before
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                depth = 0
            if depth == 0 and start is not None:
                name, first = signature(head)
                yield (name, first, b.count("\n", 0, start) + 1,
                       b.count("\n", 0, i) + 1)
                start = None


def signature(head):
    """The function name and its first line, from the text before '{'."""
    k = len(head) - 1  # at the ')'
    level = 0
    while k >= 0:
        if head[k] == ")":
            level += 1
        elif head[k] == "(":
            level -= 1
            if level == 0:
                break
        k -= 1
    m = re.search(r"([A-Za-z_]\w*)\s*$", head[:max(k, 0)])
    name = m.group(1) if m else "?"
    if name in ("Test", "ParameterizedTest"):  # Criterion: name the case
        args = [a.strip() for a in head[k + 1:].split(",")[:2]]
        name = "%s(%s)" % (name, ", ".join(args))
    # the declaration starts after the previous ';' or '}' at file scope
    cut = max(head.rfind(";", 0, k), head.rfind("}", 0, k))
    decl = cut + 1
    while decl < len(head) and head[decl].isspace():
        decl += 1
    return name, head.count("\n", 0, decl) + 1


def has_marker(lines, lo, hi):
    lo = max(lo, 0)
    return any(MARKER.search(l) for l in lines[lo:hi])


def check_file(path, listing):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    lines = text.split("\n")
    bad = []
    nlines = text.count("\n")
    if nlines > FILE_MAX and not has_marker(lines, 0, 60):
        bad.append("%s: %d lines (budget %d): split it, or say why with "
                   "/* budget: <reason> */ in its first 60 lines" %
                   (path, nlines, FILE_MAX))
    for name, first, op, cl in functions(text):
        length = cl - op + 1
        if listing and length > FUNC_MAX // 2:
            print("%s:%d: %s: %d lines" % (path, first, name, length))
        if length <= FUNC_MAX:
            continue
        if has_marker(lines, first - 6, op + 2):
            continue
        bad.append("%s:%d: function %s is %d lines (budget %d): split it, "
                   "or say why with /* budget: <reason> */ above it" %
                   (path, first, name, length, FUNC_MAX))
    return bad


def sources(paths):
    for p in paths:
        if os.path.isfile(p):
            yield p
            continue
        for root, _, files in os.walk(p):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(root, f)


def self_test():
    """The checker on made-up files: breaches found, markers honoured,
    braces in comments, strings and initializers ignored."""
    import tempfile
    body = "".join("  x += %d;\n" % i for i in range(79))
    long_fn = "int f(int x) {\n" + body + "}\n"  # 81 lines
    noise = ('static const char *s = "{{{";\n/* } { */\n'
             "static const int t[] = {1, 2};\nchar c = '{';\n")
    cases = [
        (noise + long_fn, 1),
        (noise + "/* budget: a table */\n" + long_fn, 0),
        (long_fn.replace("  x += 78;\n", ""), 0),  # 80 lines
        ("/*\n * budget: pending split\n */\n" + "int a;\n" * 801, 0),
        ("int a;\n" * 801, 1),
        ("/* budget: */\n" + long_fn, 1),  # no reason
    ]
    with tempfile.TemporaryDirectory() as d:
        for i, (text, want) in enumerate(cases):
            path = os.path.join(d, "case%d.c" % i)
            with open(path, "w") as f:
                f.write(text)
            got = len(check_file(path, False))
            if got != want:
                print("self-test case %d: %d breaches, want %d" %
                      (i, got, want))
                return 1
    print("self-test: %d cases pass" % len(cases))
    return 0


def main(argv):
    if "--self-test" in argv:
        return self_test()
    listing = "--list" in argv
    paths = [a for a in argv if a != "--list"] or \
        [p for p in DEFAULT if os.path.exists(p)]
    bad = []
    for path in sources(paths):
        bad += check_file(path, listing)
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
