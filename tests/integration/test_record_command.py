"""`ignis record -- COMMAND`: the command is started by ignis, profiled with
all its descendants from their first instruction, and its exit status
becomes ignis's (README: "Profiling one command")."""
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import IGNIS, WORKLOADS, load_pprof, read_folded, run_ignis
from test_record import check_split


@pytest.fixture
def outdir():
    d = tempfile.mkdtemp(prefix="ignis-out-")
    os.chmod(d, 0o777)  # the --user tests write here as nobody
    yield d
    shutil.rmtree(d, ignore_errors=True)


def wl(name):
    return os.path.join(WORKLOADS, name)


def test_command_profiled_until_it_exits(outdir):
    t0 = time.monotonic()
    r = run_ignis("record", "--frequency", 199, "--output", outdir, "--",
                  wl("split"), 4)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    # Not the 10 s default: the recording ends with the command.
    assert took < 9, took
    assert re.search(r"recording [45] s, \d+ samples", r.stderr), r.stderr
    assert "split exited with status 0" in r.stderr
    folded = read_folded(os.path.join(outdir, "profile.folded"))
    # Only the command: nothing of the rest of the machine.
    assert set(s[0] for s in folded) == {"split"}, set(s[0] for s in folded)
    check_split(folded)
    for name in ("profile.pb.gz", "profile.folded", "flamegraph.svg"):
        assert os.path.getsize(os.path.join(outdir, name)) > 0


def test_children_and_grandchildren(outdir, pprof_pb2):
    """family forks a child 0.3 s in, which forks a grandchild: each spins in
    its own function. All three are profiled, and the exit status is the
    command's."""
    r = run_ignis("record", "--frequency", 199, "--output", outdir, "--top", 0, "--",
                  wl("family"), 3, 3)
    assert r.returncode == 3, r.stderr
    assert "family exited with status 3" in r.stderr
    folded = read_folded(os.path.join(outdir, "profile.folded"))
    per = {}
    for s, c in folded.items():
        assert s[0] == "family", s
        per[s[-1]] = per.get(s[-1], 0) + c
    total = sum(folded.values())
    for f in ("parent_spin", "child_spin", "grandchild_spin"):
        # Three spinners on the machine's CPUs: a fair share each.
        assert per.get(f, 0) >= 0.15 * total, (f, per)
    prof = load_pprof(pprof_pb2, os.path.join(outdir, "profile.pb.gz"))
    st = prof.string_table
    pids = {l.num for s in prof.sample for l in s.label if st[l.key] == "pid"}
    assert len(pids) == 3, pids


def test_exec_children(outdir):
    """A shell that starts programs: the programs (fork, then exec) are
    followed, and so is the exit status through the shell."""
    script = '"$1" 3 & "$1" 3; wait; exit 7'
    r = run_ignis("record", "--frequency", 199, "--output", outdir, "--top", 0, "--",
                  "sh", "-c", script, "sh", wl("split"))
    assert r.returncode == 7, r.stderr
    folded = read_folded(os.path.join(outdir, "profile.folded"))
    split = {s: c for s, c in folded.items() if s[0] == "split"}
    assert sum(split.values()) >= 0.9 * sum(folded.values())
    check_split(split)


@pytest.mark.parametrize("argv,status,message", [
    (["no-such-command-here"], 127, "cannot run no-such-command-here: No such file"),
    (["/etc/passwd"], 126, "cannot run /etc/passwd: Permission denied"),
    (["sh", "-c", "kill -TERM $$"], 128 + signal.SIGTERM, "was killed by signal 15"),
    (["sh", "-c", "exit 0"], 0, "sh exited with status 0"),
    (["false"], 1, "false exited with status 1"),
])
def test_exit_status(outdir, argv, status, message):
    r = run_ignis("record", "--output", outdir, "--top", 0, "--", *argv)
    assert r.returncode == status, r.stderr
    assert message in r.stderr, r.stderr


def test_usage_errors(outdir):
    for args, msg in [
        (["--user", "nobody"], "--user is for a command"),
        (["--pid", "1", "--", "true"], "--pid and a command"),
        (["--"], "expected a command after --"),
        (["true"], "goes after --"),
    ]:
        r = run_ignis("record", "--output", outdir, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert msg in r.stderr, (args, r.stderr)
    # An unknown user is known only when ignis looks it up: nothing ran.
    marker = os.path.join(outdir, "ran")
    r = run_ignis("record", "--output", outdir, "--user", "no-such-user-x", "--",
                  "touch", marker)
    assert r.returncode == 125, r.stderr
    assert "no such user" in r.stderr
    assert not os.path.exists(marker)


def test_user_nobody(outdir):
    out = os.path.join(outdir, "who")
    r = run_ignis("record", "--output", outdir, "--top", 0, "--user", "nobody", "--",
                  "sh", "-c", 'id -u > "$1"; id -g >> "$1"; id -G >> "$1"; '
                  'echo "$HOME $USER $LOGNAME $IGNIS_TEST_VAR" >> "$1"', "sh", out,
                  env=dict(os.environ, IGNIS_TEST_VAR="kept"))
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        uid, gid, groups, env = f.read().splitlines()
    assert uid == "65534" and gid == "65534"
    assert "0" not in groups.split(), "root's groups must be dropped"
    # HOME, USER and LOGNAME are the user's (as with su and sudo -u); the
    # rest of the environment is the caller's.
    assert env == "/nonexistent nobody nobody kept"


def test_default_user_is_the_callers(outdir):
    out = os.path.join(outdir, "who")
    r = run_ignis("record", "--output", outdir, "--top", 0, "--",
                  "sh", "-c", 'id -u > "$1"', "sh", out,
                  env=dict(os.environ, SUDO_USER="nobody"))
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        assert f.read().strip() == str(os.geteuid())


def test_duration_stops_recording_command_goes_on(outdir):
    flag = os.path.join(outdir, "finished")
    t0 = time.monotonic()
    p = subprocess.Popen([IGNIS, "record", "--duration", "1.5", "--frequency", "199",
                          "--output", outdir, "--top", "0", "--", "sh", "-c",
                          '"$1" 4; touch "$2"; exit 5', "sh", wl("split"), flag],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    svg = os.path.join(outdir, "flamegraph.svg")
    while not os.path.exists(svg) and p.poll() is None:
        time.sleep(0.05)
    written = time.monotonic() - t0
    # Written at the end of the duration, while the command still runs.
    assert p.poll() is None, "ignis waits for the command"
    assert not os.path.exists(flag)
    out, err = p.communicate(timeout=30)
    took = time.monotonic() - t0
    assert p.returncode == 5, err
    assert os.path.exists(flag), "the command ran to its end"
    assert took >= 3.9 and took - written >= 1.5, (took, written)
    assert re.search(r"recording stopped after 2 s; sh \(pid \d+\) goes on", err) or \
        re.search(r"recording stopped after 1 s; sh \(pid \d+\) goes on", err), err
    folded = read_folded(os.path.join(outdir, "profile.folded"))
    # 1.5 s of one busy thread at 199 Hz: well under 4 s worth.
    assert 0 < sum(folded.values()) <= 2.5 * 199, sum(folded.values())


SIGCOUNT = r"""
import signal, sys, time
n = [0]
def on_int(sig, frame):
    n[0] += 1
signal.signal(signal.SIGINT, on_int)
print("ready", flush=True)
end = time.monotonic() + 3
while time.monotonic() < end:
    pass
open(sys.argv[1], "w").write(str(n[0]))
sys.exit(9 if n[0] else 0)
"""


def test_signal_to_ignis_is_passed_on(outdir):
    """kill -INT to ignis alone: the command gets it (once), ignis keeps
    recording until the command exits, then writes its files."""
    count = os.path.join(outdir, "count")
    p = subprocess.Popen([IGNIS, "record", "--output", outdir, "--top", "0", "--",
                          sys.executable, "-c", SIGCOUNT, count],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 9, err
    with open(count) as f:
        assert f.read() == "1"
    assert os.path.getsize(os.path.join(outdir, "flamegraph.svg")) > 0


def test_ctrl_c_on_a_terminal(outdir):
    """Ctrl-C on a terminal signals the foreground process group, the
    command included: it gets it once (not again from ignis); the command
    dies of it and ignis writes its files and exits 128 + SIGINT."""
    pid, master = pty.fork()
    if pid == 0:
        os.execv(IGNIS, [IGNIS, "record", "--output", outdir, "--top", "0", "--",
                         wl("split"), "30"])
    buf = b""
    deadline = time.monotonic() + 20
    while b"recording 1" not in buf and time.monotonic() < deadline:
        try:
            buf += os.read(master, 4096)
        except OSError:
            break
    assert b"recording 1" in buf, buf
    os.write(master, b"\x03")
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    _, status = os.waitpid(pid, 0)
    os.close(master)
    text = buf.decode(errors="replace")
    assert os.WIFEXITED(status), status
    assert os.WEXITSTATUS(status) == 128 + signal.SIGINT, text
    assert "was killed by signal 2" in text, text
    folded = read_folded(os.path.join(outdir, "profile.folded"))
    assert sum(folded.values()) > 50
    assert os.path.getsize(os.path.join(outdir, "flamegraph.svg")) > 0


def test_second_signal_stops_recording_command_goes_on(outdir):
    """A command that handles SIGINT and goes on: a second signal ends the
    recording at once; the files are written while the command still runs,
    and ignis still exits with its status."""
    count = os.path.join(outdir, "count")
    svg = os.path.join(outdir, "flamegraph.svg")
    p = subprocess.Popen([IGNIS, "record", "--output", outdir, "--top", "0", "--",
                          sys.executable, "-c", SIGCOUNT, count],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 20
    while not os.path.exists(svg) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(svg)
    assert not os.path.exists(count), "the command was still running"
    out, err = p.communicate(timeout=30)
    assert p.returncode == 9, err
    assert "is still running, waiting for it to exit" in err, err
    with open(count) as f:
        assert f.read() == "2"
