#!/usr/bin/env python3
"""Run an example program and check what it printed.

    check_output.py --expected expected/NAME.txt [--stderr-expected FILE]
                    [--timeout SECONDS] -- PROGRAM [ARGS...]

The program must exit with status 0, its output must match the expected
file, and it must leave no process behind.

Expected file format: each line is a regular expression that must match the
whole of the corresponding output line (re.fullmatch). Lines starting with
'#' are directives; write '\\#' for a pattern starting with '#'.

    # stdout           the lines that follow describe stdout, all of it
                       (this is where a file starts)
    # stderr           the lines that follow describe stderr, all of it
    # stderr-contains  each following pattern must match some line of stderr,
                       in this order (other lines may come between)
    # stdout-contains  the same for stdout (a further check: a file may
                       describe a stream in several sections)
    # unordered        first line of a section: its lines may come in any
                       order (each pattern matches a different line)
    # repeat           the patterns up to '# end-repeat' match one or more
    # end-repeat         times in a row (ordered sections; one per section)
    ## text            a comment

A named group captured in one line, (?P<pid>\\d+), can be referred to in a
later line of an ordered section as (?P=pid): it then matches the same text.

A sibling NAME.stderr.txt (or the file given with --stderr-expected), if
present, is read as one more '# stderr-contains' section; its first line
may be '# unordered'.

Leftover processes: the program runs as the leader of a new session, and the
checker makes itself a child subreaper so that orphaned grandchildren stay
visible. After the program exits, any process still in that session is
reported, killed, and fails the check.
"""

import argparse
import ctypes
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36
LEFTOVER_GRACE_SECONDS = 1.0

DIRECTIVES = {"# stdout", "# stderr", "# stdout-contains", "# stderr-contains", "# unordered",
              "# repeat", "# end-repeat"}


class ExpectedError(Exception):
    """The expected file itself is malformed."""


class Section:
    def __init__(self, stream, mode, origin):
        self.stream = stream    # "stdout" or "stderr"
        self.mode = mode        # "exact" or "contains"
        self.origin = origin    # file name, for messages
        self.unordered = False
        self.patterns = []      # (line number, pattern text)
        self.repeat = None      # (start, end) indexes into patterns
        self._repeat_start = None

    def describe(self):
        what = "all of " + self.stream if self.mode == "exact" else self.stream + " contains"
        return f"{what}{' (unordered)' if self.unordered else ''} [{self.origin}]"


def parse_expected(path, default_stream="stdout", default_mode="exact"):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    name = os.path.basename(path)
    sections = [Section(default_stream, default_mode, name)]
    for number, line in enumerate(lines, 1):
        current = sections[-1]
        if line.startswith("##"):
            continue
        if line.startswith("#"):
            directive = line.rstrip()
            if directive not in DIRECTIVES:
                raise ExpectedError(f"{name}:{number}: unknown directive {line!r} "
                                    "(write \\# for a pattern starting with '#')")
            if directive == "# stdout":
                sections.append(Section("stdout", "exact", name))
            elif directive == "# stderr":
                sections.append(Section("stderr", "exact", name))
            elif directive == "# stdout-contains":
                sections.append(Section("stdout", "contains", name))
            elif directive == "# stderr-contains":
                sections.append(Section("stderr", "contains", name))
            elif directive == "# unordered":
                if current.patterns:
                    raise ExpectedError(f"{name}:{number}: '# unordered' must come first "
                                        "in its section")
                current.unordered = True
            elif directive == "# repeat":
                if current.unordered or current.repeat or current._repeat_start is not None:
                    raise ExpectedError(f"{name}:{number}: one '# repeat' per ordered section")
                current._repeat_start = len(current.patterns)
            elif directive == "# end-repeat":
                start = current._repeat_start
                if start is None or start == len(current.patterns):
                    raise ExpectedError(f"{name}:{number}: '# end-repeat' without a "
                                        "non-empty '# repeat' block")
                current.repeat = (start, len(current.patterns))
                current._repeat_start = None
            continue
        if line.startswith("\\#"):
            line = line[1:]
        try:
            re.compile(substitute_backrefs(line, AnyCapture()))
        except re.error as e:
            raise ExpectedError(f"{name}:{number}: bad regular expression {line!r}: {e}")
        current.patterns.append((number, line))
    for s in sections:
        if s._repeat_start is not None:
            raise ExpectedError(f"{name}: '# repeat' without '# end-repeat'")
    # The implicit first section is dropped when the file starts with a directive.
    if len(sections) > 1 and not sections[0].patterns and lines and lines[0].startswith("#"):
        sections.pop(0)
    return sections


def split_lines(text):
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


class AnyCapture(dict):
    """Stands for the captures of earlier lines when checking a pattern's syntax."""

    def __contains__(self, name):
        return True

    def __missing__(self, name):
        return ""


def substitute_backrefs(pattern, captures):
    """(?P=name) for a group captured on an earlier line becomes its text."""
    own = set(re.findall(r"\(\?P<(\w+)>", pattern))

    def repl(m):
        name = m.group(1)
        if name in own or name not in captures:
            return m.group(0)
        return "(?:" + re.escape(captures[name]) + ")"

    return re.sub(r"\(\?P=(\w+)\)", repl, pattern)


def bipartite(patterns, lines):
    """Maximum matching of patterns to distinct lines: {pattern index: line index}."""
    compiled = [re.compile(p) for _, p in patterns]
    fits = [[j for j, line in enumerate(lines) if c.fullmatch(line)] for c in compiled]
    line_owner = {}

    def augment(i, seen):
        for j in fits[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in line_owner or augment(line_owner[j], seen):
                line_owner[j] = i
                return True
        return False

    for i in range(len(patterns)):
        augment(i, set())
    return {i: j for j, i in line_owner.items()}


def expand_repeat(section, line_count):
    """The section's patterns with the repeat block repeated to fit line_count."""
    pats = section.patterns
    if section.repeat is None:
        return pats
    start, end = section.repeat
    block = pats[start:end]
    fixed = len(pats) - len(block)
    times = max(1, (line_count - fixed) // len(block)) if line_count > fixed else 1
    return pats[:start] + block * times + pats[end:]


def check_exact_ordered(section, lines):
    patterns = expand_repeat(section, len(lines))
    captures = {}
    report, ok = [], True
    for i in range(max(len(patterns), len(lines))):
        pat = patterns[i] if i < len(patterns) else None
        line = lines[i] if i < len(lines) else None
        if pat is None:
            ok = False
            report.append(f"  + {line!r}    <- unexpected extra line {i + 1}")
            continue
        number, text = pat
        if line is None:
            ok = False
            report.append(f"  - /{text}/    <- missing line {i + 1} (expected file line {number})")
            continue
        if match_capturing(text, line, captures):
            report.append(f"    {line!r}")
        else:
            ok = False
            report.append(f"  ! {line!r}    <- line {i + 1} does not match /{text}/ "
                          f"(expected file line {number})")
    return ok, report


def match_capturing(text, line, captures):
    """Fullmatches line against pattern text (earlier captures substituted);
    on a match, records the pattern's named groups in captures."""
    m = re.fullmatch(substitute_backrefs(text, captures), line)
    if m:
        captures.update({k: v for k, v in m.groupdict().items() if v is not None})
    return m is not None


def check_unordered(section, lines, exact):
    matching = bipartite(section.patterns, lines)
    ok = len(matching) == len(section.patterns) and (not exact or len(lines) == len(matching))
    report = []
    used = set(matching.values())
    for i, (number, text) in enumerate(section.patterns):
        if i not in matching:
            report.append(f"  - /{text}/    <- no line matches (expected file line {number})")
    for j, line in enumerate(lines):
        if j in used:
            report.append(f"    {line!r}")
        elif exact:
            report.append(f"  + {line!r}    <- matches no expected pattern")
    return ok, report


def check_contains_ordered(section, lines):
    captures, report, pos, ok = {}, [], 0, True
    for number, text in section.patterns:
        for j in range(pos, len(lines)):
            if match_capturing(text, lines[j], captures):
                report.append(f"    /{text}/ matched line {j + 1}: {lines[j]!r}")
                pos = j + 1
                break
        else:
            ok = False
            report.append(f"  - /{text}/    <- not found after line {pos} "
                          f"(expected file line {number})")
    return ok, report


def check_section(section, out, err):
    lines = split_lines(out if section.stream == "stdout" else err)
    exact = section.mode == "exact"
    if section.unordered:
        return check_unordered(section, lines, exact)
    if exact:
        return check_exact_ordered(section, lines)
    return check_contains_ordered(section, lines)


# Leftover processes ----------------------------------------------------------

def become_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # without it orphans go to init; they are still found by session


def reap_zombies():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def session_members(sid):
    """Live (non-zombie) processes of session sid: [(pid, state, cmdline)]."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
            fields = stat[stat.rindex(")") + 2:].split()
            state, session = fields[0], int(fields[3])
            if session != sid or state == "Z":
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            found.append((int(entry), state, cmdline))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return found


def kill_session(sid):
    try:
        os.killpg(sid, signal.SIGKILL)
    except OSError:
        pass
    for pid, _, _ in session_members(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def leftovers_after_exit(sid):
    deadline = time.monotonic() + LEFTOVER_GRACE_SECONDS
    while True:
        reap_zombies()
        members = session_members(sid)
        if not members or time.monotonic() >= deadline:
            return members
        time.sleep(0.05)


# Main ------------------------------------------------------------------------

def show_stream(title, text):
    print(f"--- {title} ---")
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--expected", required=True, help="expected stdout (and stderr) patterns")
    ap.add_argument("--stderr-expected", help="patterns that must appear in stderr "
                    "(default: NAME.stderr.txt beside the expected file, if present)")
    ap.add_argument("--timeout", type=float, default=50.0, help="seconds before the program "
                    "is killed (keep it below the meson test timeout)")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- program [args...]")
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no program given")

    try:
        sections = parse_expected(args.expected)
        stderr_file = args.stderr_expected
        if stderr_file is None:
            base = args.expected[:-4] if args.expected.endswith(".txt") else args.expected
            candidate = base + ".stderr.txt"
            stderr_file = candidate if os.path.exists(candidate) else None
        if stderr_file:
            sections += parse_expected(stderr_file, "stderr", "contains")
    except (OSError, ExpectedError) as e:
        print(f"FAIL: cannot use the expected file: {e}")
        return 2

    become_subreaper()
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        # Files, not pipes: a leftover process holding our pipe would make us
        # wait for it; with files we see the exit of the program itself.
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out_f, stderr=err_f,
                                start_new_session=True)

        def on_term(signum, _frame):
            kill_session(proc.pid)
            print(f"FAIL: checker got signal {signum}; killed the program's session")
            sys.exit(1)

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)

        timed_out = False
        try:
            status = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_session(proc.pid)
            status = proc.wait()
        leftovers = [] if timed_out else leftovers_after_exit(proc.pid)
        if leftovers:
            kill_session(proc.pid)
            time.sleep(0.1)
            reap_zombies()
        out_f.seek(0)
        err_f.seek(0)
        out = out_f.read().decode("utf-8", errors="replace")
        err = err_f.read().decode("utf-8", errors="replace")

    print("command:", " ".join(command))
    show_stream("stdout", out)
    show_stream("stderr", err)

    failures = []
    if timed_out:
        failures.append(f"the program did not finish within {args.timeout:g} s and was killed")
    elif status != 0:
        how = (f"killed by {signal.Signals(-status).name}" if status < 0
               else f"exit status {status}")
        failures.append(f"the program ended with {how}, expected exit status 0")
    for pid, state, cmdline in leftovers:
        failures.append(f"process {pid} ({cmdline or '?'}, state {state}) was still running "
                        "after the program exited; killed it")

    for section in sections:
        ok, report = check_section(section, out, err)
        print(f"--- check: {section.describe()}: {'ok' if ok else 'MISMATCH'} ---")
        print("\n".join(report) if report else "    (no lines)")
        if not ok:
            failures.append(f"{section.describe()} does not match (see the report above)")

    if failures:
        print("--- FAIL ---")
        for f in failures:
            print("FAIL:", f)
        return 1
    print("--- PASS ---")
    return 0


if __name__ == "__main__":
    sys.exit(main())
