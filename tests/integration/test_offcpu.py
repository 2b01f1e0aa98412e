"""Off-CPU time (`ignis record --off-cpu`): where threads wait, by stack, with
the nanoseconds they waited, next to the CPU profile."""
import math
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import IGNIS, WORKLOADS, load_pprof, read_folded, run_ignis

WAIT = os.path.join(WORKLOADS, "offcpu_wait")


# The two ways ignis takes off-CPU time on a kernel with sched_exit_tp
# (sys/probe.h): one program at the end of __schedule (the default), or
# sched_switch and it (IGNIS_OFFCPU_PATH=switch). Every test here runs
# with both; test_paths_agree compares them on the same blockings.
PATHS = {"sched_exit_tp": None, "sched_switch+sched_exit_tp": "switch"}


@pytest.fixture(autouse=True, params=sorted(PATHS))
def offcpu_path(request, monkeypatch):
    if PATHS[request.param]:
        monkeypatch.setenv("IGNIS_OFFCPU_PATH", PATHS[request.param])
    else:
        monkeypatch.delenv("IGNIS_OFFCPU_PATH", raising=False)
    return request.param


@pytest.fixture
def outdir():
    d = tempfile.mkdtemp(prefix="ignis-offcpu-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def record(outdir, *args, timeout=120):
    r = run_ignis("record", "--off-cpu", "--output", outdir, *args, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r


def kernel_below(stack, func):
    """The frames after func (toward the leaf), the kernel's included."""
    return stack[stack.index(func) + 1:]


def under(folded, func):
    return sum(v for s, v in folded.items() if func in s)


def test_sleep_and_spin(outdir, pprof_pb2, offcpu_path):
    """10 ms spinning and 10 ms in nanosleep for 6 s: about 3 s off the CPU
    under sleep_10ms (up to main, down to the kernel's nanosleep), about 3 s
    of CPU under spin_10ms."""
    r = record(outdir, "--frequency", 100, "--", WAIT, "sleep", 6)
    # What the workload measured itself: on a busy machine the spinner gets
    # less CPU than its 10 ms and a sleeper waits longer to run again.
    truth = re.search(r"(\d+) sleeps, slept ([\d.]+) s, cpu ([\d.]+) s", r.stdout)
    assert truth, r.stdout
    sleeps, slept_s, cpu_s = int(truth.group(1)), float(truth.group(2)), float(truth.group(3))
    off = read_folded(os.path.join(outdir, "offcpu.folded"))
    cpu = read_folded(os.path.join(outdir, "profile.folded"))
    assert set(s[0] for s in off) == {"offcpu_wait"}, "only the command's threads"
    slept = {s: v for s, v in off.items() if "sleep_10ms" in s}
    ns = sum(slept.values())
    assert 2.4e9 <= ns <= 3.6e9, (ns, off)
    assert abs(ns / 1e9 - slept_s) <= 0.1 * slept_s, (ns, slept_s)
    # Nearly all of the workload's off-CPU time is in sleep_10ms (a few
    # blockings before its table loaded may be walked by frame pointers).
    assert ns >= 0.9 * sum(off.values()), off
    for s in slept:
        i = s.index("sleep_10ms")
        assert s[i - 2:i] == ("main", "run_sleep"), s
        below = kernel_below(s, "sleep_10ms")
        assert "do_nanosleep" in below and below[-2:] == ("schedule", "__schedule"), s
    # CPU samples at 100 Hz: 3 s is about 300 of them, the CPU time the
    # workload had.
    spun = under(cpu, "spin_10ms")
    assert abs(spun / 100 - cpu_s) <= 0.2 * cpu_s, (spun, cpu_s, cpu)
    if cpu_s >= 2.4:
        assert 240 <= spun <= 360, cpu
    # The counters and the off-CPU top list (milliseconds).
    assert re.search(r"off-CPU: \d+ blockings of targets, \d+ tracked", r.stderr), r.stderr
    assert "; hooks: %s\n" % offcpu_path in r.stderr, r.stderr
    m = re.search(r"wrote .*offcpu.pb.gz and .*offcpu.folded \((\d+) blockings, ([\d.]+) s off",
                  r.stdout)
    assert m, r.stdout
    # One per sleep (the last may come too late: the process is gone; a
    # few more: the loader's own waits).
    assert sleeps - 2 <= int(m.group(1)) <= sleeps + 10, r.stdout
    top = r.stdout.split("self ms")[1].splitlines()[1:]
    assert any(l.split()[-1] == "sleep_10ms" for l in top), r.stdout

    prof = load_pprof(pprof_pb2, os.path.join(outdir, "offcpu.pb.gz"))
    st = prof.string_table
    assert [(st[t.type], st[t.unit]) for t in prof.sample_type] == \
        [("blocked", "count"), ("off_cpu", "nanoseconds")]
    assert (st[prof.period_type.type], st[prof.period_type.unit]) == ("off_cpu", "nanoseconds")
    funcs = {f.id: st[f.name] for f in prof.function}
    locs = {l.id: l for l in prof.location}
    total_ns = total_n = 0
    for s in prof.sample:
        names = [funcs[locs[i].line[-1].function_id] for i in s.location_id]
        labels = {st[l.key]: (st[l.str] if l.str else l.num) for l in s.label}
        assert labels["comm"] == "offcpu_wait"
        if "sleep_10ms" in names:
            total_n += s.value[0]
            total_ns += s.value[1]
            # Each blocking is about 10 ms.
            assert 9.5e6 * s.value[0] <= s.value[1] <= 15e6 * s.value[0], s
    assert total_ns == ns


def test_pipe_read(outdir):
    """A read from a pipe blocks until another process writes, 2 s later."""
    record(outdir, "--", WAIT, "pipe", 2)
    off = read_folded(os.path.join(outdir, "offcpu.folded"))
    waits = {s: v for s, v in off.items() if "pipe_reader" in s}
    assert len(waits) == 1, off
    (s, ns), = waits.items()
    assert 1.9e9 <= ns <= 2.5e9, (s, ns)
    assert s[s.index("pipe_reader") - 1] == "run_pipe" or "main" in s, s
    assert any("pipe_read" in f for f in kernel_below(s, "pipe_reader")), s
    # The writer, a process of its own, slept the same 2 s first.
    assert 1.9e9 <= under(off, "writer_wait") <= 2.5e9, off


def test_mutex_wait(outdir):
    """A thread waits 2 s for a mutex another thread holds (a futex wait)."""
    r = record(outdir, "--", WAIT, "mutex", 2)
    off = read_folded(os.path.join(outdir, "offcpu.folded"))
    # What went wrong, if it does: the off-CPU counters (one CI run had
    # no record of the holder's 2 s sleep at all).
    counters = [l for l in r.stderr.splitlines() if "off-CPU" in l]
    waits = {s: v for s, v in off.items() if "mutex_waiter" in s}
    assert 1.8e9 <= sum(waits.values()) <= 2.5e9, off
    for s in waits:
        below = kernel_below(s, "mutex_waiter")
        assert any("futex" in f for f in below), s
        assert "main" in s[:s.index("mutex_waiter")], s
    assert 1.8e9 <= under(off, "holder_sleep") <= 2.5e9, (off, counters)


def test_direct_io(outdir):
    """Reads with O_DIRECT wait for the disk; each is short, so with no
    minimum they all count."""
    path = os.path.join(os.path.dirname(os.path.abspath(WAIT)), "offcpu-direct.data")
    with open(path, "wb") as f:
        f.write(os.urandom(16 << 20))
        f.flush()
        os.fsync(f.fileno())
    try:
        r = run_ignis("record", "--off-cpu", "--off-cpu-min-block-us", 0, "--output", outdir,
                      "--", WAIT, "direct", path, 2)
    finally:
        os.unlink(path)
    if r.returncode == 3:
        pytest.skip("this filesystem refuses O_DIRECT: " + r.stderr.strip().splitlines()[-1])
    assert r.returncode == 0, r.stderr
    off = read_folded(os.path.join(outdir, "offcpu.folded"))
    waits = {s: v for s, v in off.items() if "direct_reader" in s}
    assert waits, off
    io = sum(v for s, v in waits.items() if any("io_schedule" in f or "blk" in f or
                                                 "iomap_dio" in f or "__iomap_dio_rw" in f
                                                 for f in kernel_below(s, "direct_reader")))
    assert io > 0.5 * sum(waits.values()), waits


def blockings(stderr):
    m = re.search(r"off-CPU: (\d+) blockings of targets, (\d+) tracked", stderr)
    assert m, stderr
    return int(m.group(1)), int(m.group(2))


def test_probability(outdir):
    """With probability 0.1 a tenth of the blockings are tracked and the
    profile is scaled back up: its total is within 5 standard deviations of
    the unsampled one."""
    full = os.path.join(outdir, "full")
    tenth = os.path.join(outdir, "tenth")
    record(full, "--", WAIT, "sleep", 4)
    r = record(tenth, "--off-cpu-probability", 0.1, "--", WAIT, "sleep", 4)
    seen, tracked = blockings(r.stderr)
    a = sum(v for s, v in read_folded(os.path.join(full, "offcpu.folded")).items()
            if "sleep_10ms" in s)
    b = sum(v for s, v in read_folded(os.path.join(tenth, "offcpu.folded")).items()
            if "sleep_10ms" in s)
    # About 200 blockings of 10 ms, each kept with p = 0.1: the count of
    # those kept is binomial, so the scaled total's deviation is
    # sqrt(n p (1 - p)) / p blockings of 10 ms each.
    n = a / 10.1e6
    sigma = math.sqrt(n * 0.1 * 0.9) / 0.1 * 10.1e6
    assert abs(b - a) <= 5 * sigma, (a, b, sigma)
    assert 0.03 * seen <= tracked <= 0.2 * seen, (seen, tracked)


def test_min_block(outdir, pprof_pb2):
    """Blockings shorter than the minimum are counted, not recorded: every
    one recorded is at least that long (a 10 ms sleep can last 50 ms on a
    busy machine, waiting for a CPU)."""
    r = record(outdir, "--off-cpu-min-block-us", 50000, "--", WAIT, "sleep", 3)
    m = re.search(r"(\d+) ran again: (\d+) shorter than 50000 us, (\d+) sent", r.stderr)
    assert m, r.stderr
    assert int(m.group(2)) >= 50, r.stderr
    assert int(m.group(3)) < int(m.group(2)) / 4, r.stderr
    prof = load_pprof(pprof_pb2, os.path.join(outdir, "offcpu.pb.gz"))
    for s in prof.sample:
        assert s.value[1] >= 50e6 * s.value[0], s


@pytest.mark.parametrize("args,message", [
    (["--off-cpu-probability", "0"], "--off-cpu-probability"),
    (["--off-cpu-probability", "1.5"], "--off-cpu-probability"),
    (["--off-cpu-min-block-us", "x"], "--off-cpu-min-block-us"),
])
def test_bad_flags(outdir, args, message):
    r = run_ignis("record", "--off-cpu", "--output", outdir, *args, "--duration", 1)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr


# ---- the agent: off-CPU profiles to every destination ----------------------

def offcpu_ns(prof, type_, func=None):
    """The values of sample type type_ (nanoseconds) in samples under func
    (None: all)."""
    st = prof.string_table
    types = [(st[t.type], st[t.unit]) for t in prof.sample_type]
    i = types.index((type_, "nanoseconds"))
    funcs = {f.id: st[f.name] for f in prof.function}
    locs = {l.id: l for l in prof.location}
    total = 0
    for s in prof.sample:
        names = {funcs[ln.function_id] for i_ in s.location_id for ln in locs[i_].line}
        if func is None or func in names:
            total += s.value[i]
    return total


def test_agent_delivers_offcpu_everywhere(pprof_pb2):
    """sampling.off_cpu on, a workload sleeping half of the time: Pyroscope
    gets __name__=off_cpu series (off_cpu/nanoseconds) with the series
    labels of the CPU ones, Datadog a wall.pprof (wall-time/nanoseconds:
    CPU time plus time blocked) beside cpu.pprof, the file destination an
    *_offcpu_* file, OTLP an off_cpu/nanoseconds Profile beside the CPU one
    of the same resource; all four get the same nanoseconds under
    sleep_10ms, about half of the time the workload ran."""
    import glob
    import gzip
    import subprocess
    import sys
    import time

    from conftest import ROOT
    from test_agent import Agent, write_config

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from fakes.datadog import FakeDatadog
    from fakes.otlp import FakeOTLP
    from fakes.pyroscope import FakePyroscope

    tmp = tempfile.mkdtemp(prefix="ignis-offcpu-agent-")
    svc = "svc-offcpu"
    files = os.path.join(tmp, "files")
    try:
        with FakePyroscope() as fp, FakeDatadog() as fd, FakeOTLP() as fo:
            cfg = write_config(tmp, """
upload_interval: 1s
shutdown_timeout: 20s
host: test-node
spool_dir: %s
log:
  level: debug
metrics:
  listen: "off"
sampling:
  off_cpu: true
destinations:
  - type: pyroscope
    url: %s
    tag_rules:
      - set: {key: env, value: prod-us}
  - type: datadog
    url: %s
    upload_interval: 2s
  - type: file
    directory: %s
  - type: otlp
    endpoint: %s
""" % (os.path.join(tmp, "spool"), fp.url, fd.url, files, fo.url))
            exe = os.path.join(tmp, svc)
            shutil.copy(WAIT, exe)
            agent = Agent(cfg)
            time.sleep(2)  # loaded, tables of what runs in
            w = subprocess.Popen([exe, "sleep", "6"], stdout=subprocess.PIPE, text=True)
            out, _ = w.communicate(timeout=30)
            time.sleep(1.5)
            rc = agent.stop()
        assert rc == 0, agent.output
        assert not fp.rejected, fp.rejected[:3]
        assert not fd.rejected, fd.rejected[:3]
        assert not fo.rejected, fo.rejected[:3]
        slept = float(re.search(r"slept ([\d.]+) s", out).group(1))

        off = [r for r in fp.received if r["labels"]["__name__"] == "off_cpu" and
               r["labels"]["service_name"] == svc]
        cpu = [r for r in fp.received if r["labels"]["__name__"] == "process_cpu" and
               r["labels"]["service_name"] == svc]
        assert off and cpu, [r["labels"] for r in fp.received]
        for r in off:
            st = r["profile"].string_table
            assert [(st[t.type], st[t.unit]) for t in r["profile"].sample_type] == \
                [("off_cpu", "nanoseconds")]
            assert r["labels"]["env"] == "prod-us" and r["labels"]["host"] == "test-node"
            assert set(r["labels"]) == set(cpu[0]["labels"])
        # All its time off the CPU: a new process's first waits may be walked
        # by frame pointers before its tables load, and lose sleep_10ms.
        pyro_ns = sum(offcpu_ns(r["profile"], "off_cpu") for r in off)
        assert 0.9 * slept <= pyro_ns / 1e9 <= 1.2 * slept, (pyro_ns, slept)
        assert sum(offcpu_ns(r["profile"], "off_cpu", "sleep_10ms") for r in off) > 0

        dd = [r for r in fd.received if r["tags"].get("service") == svc]
        walls = [r for r in dd if "wall.pprof" in r["profiles"]]
        assert walls, [list(r["profiles"]) for r in dd]
        for r in walls:
            assert r["event"]["attachments"][-1] == "wall.pprof"
            p = r["profiles"]["wall.pprof"]
            st = p.string_table
            assert [(st[t.type], st[t.unit]) for t in p.sample_type] == \
                [("wall-samples", "count"), ("wall-time", "nanoseconds")]
            assert r["tags"]["host"] == "test-node"
        # Wall time is the CPU samples at their CPU time plus the time
        # blocked: per upload, wall minus CPU is what Pyroscope got as off-CPU.
        for func in ("sleep_10ms", "spin_10ms", None):
            dd_blocked = 0
            for r in walls:
                wall = offcpu_ns(r["profiles"]["wall.pprof"], "wall-time", func)
                on = offcpu_ns(r["profiles"]["cpu.pprof"], "cpu-time", func) \
                    if "cpu.pprof" in r["profiles"] else 0
                assert wall >= on, (func, wall, on)
                dd_blocked += wall - on
            blocked = sum(offcpu_ns(r["profile"], "off_cpu", func) for r in off)
            assert dd_blocked == blocked, (func, dd_blocked, blocked)
        assert sum(offcpu_ns(r["profiles"]["wall.pprof"], "wall-time", "spin_10ms")
                   for r in walls) > 0

        paths = glob.glob(os.path.join(files, "*_%s_*_offcpu_*.pb.gz" % svc))
        assert paths, os.listdir(files)
        file_ns = 0
        for path in paths:
            prof = pprof_pb2.Profile()
            with open(path, "rb") as f:
                prof.ParseFromString(gzip.decompress(f.read()))
            file_ns += offcpu_ns(prof, "off_cpu")
        assert file_ns == pyro_ns

        otlp_ns = otlp_sleep_ns = 0
        for r in fo.received:
            mine = [p for p in r["profiles"] if p["resource"].get("service.name") == svc]
            kinds = [p["sample_type"] for p in mine]
            if ("off_cpu", "nanoseconds") not in kinds:
                continue
            # One resource: its CPU profile (if it ran) and the off-CPU one beside it.
            assert kinds[-1:] == [("off_cpu", "nanoseconds")] and \
                kinds[:-1] in ([], [("samples", "count")]), kinds
            assert mine[-1]["period"] == 0
            assert len({p["profile_id"] for p in mine}) == len(mine)
            for smp in mine[-1]["samples"]:
                otlp_ns += smp["value"]
                otlp_sleep_ns += smp["value"] if "sleep_10ms" in smp["stack"] else 0
        assert otlp_ns == pyro_ns, (otlp_ns, pyro_ns)
        assert otlp_sleep_ns == sum(offcpu_ns(r["profile"], "off_cpu", "sleep_10ms") for r in off)
        assert re.search(r"off-CPU blockings \([\d.]+ s, 0 lost\)", agent.output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_paths_agree(offcpu_path):
    """Both paths record the same workload at the same time (two ignis, -p):
    the same stacks, and the same time per blocking within 2% (the
    one-program path counts interrupt and steal time of the run before a
    blocking as off the CPU; the two start a little apart, so the totals
    differ by that)."""
    if offcpu_path != "sched_exit_tp":
        pytest.skip("runs both paths itself")
    dirs = [tempfile.mkdtemp(prefix="ignis-offcpu-path-") for _ in PATHS]
    w = subprocess.Popen([WAIT, "sleep", "7"], stdout=subprocess.DEVNULL)
    try:
        procs = []
        for d, name in zip(dirs, sorted(PATHS)):
            env = dict(os.environ)
            env.pop("IGNIS_OFFCPU_PATH", None)
            if PATHS[name]:
                env["IGNIS_OFFCPU_PATH"] = PATHS[name]
            procs.append(subprocess.Popen(
                [IGNIS, "record", "--off-cpu", "--output", d, "--frequency", "10",
                 "--duration", "4", "-p", str(w.pid)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (_, err) in zip(procs, outs):
            assert p.returncode == 0, err
        means = []
        for (out, err), name in zip(outs, sorted(PATHS)):
            assert "; hooks: %s\n" % name in err, err
            m = re.search(r"\((\d+) blockings, ([\d.]+) s off", out)
            assert m and int(m.group(1)) >= 100, out
            means.append(float(m.group(2)) / int(m.group(1)))
        folded = [read_folded(os.path.join(d, "offcpu.folded")) for d in dirs]
    finally:
        w.wait(timeout=60)
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    # Nearly all of it in the sleeps, with the same stacks in both.
    sleeps = [{s: v for s, v in f.items() if "sleep_10ms" in s} for f in folded]
    for f, sl in zip(folded, sleeps):
        assert sum(sl.values()) >= 0.9 * sum(f.values()), f
    big = [{s for s, v in sl.items() if v >= 0.05 * sum(sl.values())} for sl in sleeps]
    assert big[0] == big[1] and big[0], sleeps
    assert abs(means[0] - means[1]) <= 0.02 * max(means), means
