"""`ignis record` end to end: a workload with a known 2:1 split between two
leaf functions under one parent, profiled by the real binary with real BPF."""
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import IGNIS, WORKLOADS, load_pprof, read_folded, run_ignis

# leaf_a does twice leaf_b's work. With ~1000 samples the ratio's standard
# deviation is about 0.1; 2.0 ± 0.4 is four of them.
RATIO, RATIO_TOL = 2.0, 0.4


@pytest.fixture
def outdir():
    d = tempfile.mkdtemp(prefix="ignis-out-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def split_stacks(folded, pid_comm="split"):
    return {s: c for s, c in folded.items() if s[0] == pid_comm}


def check_split(stacks):
    """The workload's stacks: leaves under parent under run under main."""
    total = sum(stacks.values())
    assert total > 0, "no samples of the workload"
    a = sum(c for s, c in stacks.items() if s[-1] == "leaf_a")
    b = sum(c for s, c in stacks.items() if s[-1] == "leaf_b")
    # Kernel frames (an interrupt) may sit on top of a leaf: count by the
    # innermost workload frame as well.
    def under(leaf):
        return sum(c for s, c in stacks.items() if leaf in s)
    assert under("leaf_a") + under("leaf_b") >= 0.95 * total, stacks
    for s, c in stacks.items():
        for leaf in ("leaf_a", "leaf_b"):
            if leaf in s:
                i = s.index(leaf)
                assert s[i - 3:i] == ("main", "run", "parent"), s
    assert b > 0
    assert abs(a / b - RATIO) <= RATIO_TOL, "leaf_a:leaf_b = %d:%d" % (a, b)
    return a, b


def big_dwarf_program(path, functions=2000, members=48):
    """A static program whose DWARF lookups read more than 1 MiB of mapped
    sections (a struct of members words in each of functions functions)
    while what naming it keeps on the heap stays well under 1 MiB; it
    alternates spin() (on the CPU) and nap() (blocked in nanosleep)."""
    fields = "; ".join("unsigned long m%d" % k for k in range(members))
    body = ["#include <stdlib.h>\n#include <time.h>\n\nvolatile unsigned long sink;\n"]
    for i in range(functions):
        body.append("__attribute__((noinline)) unsigned long fn_%d(unsigned long x)\n"
                    "{\n\tstruct rec_%d { %s; } r = { x, x + %d };\n"
                    "\treturn r.m0 + r.m1 + r.m%d;\n}\n" % (i, i, fields, i, members - 1))
    body.append("""
__attribute__((noinline)) void spin(void)
{
	unsigned long acc = 0;
	for (unsigned long i = 0; i < 2000000; i++)
		acc += fn_%d(i);
	sink = acc;
}

__attribute__((noinline)) void nap(void)
{
	struct timespec ts = { 0, 5000000 };
	nanosleep(&ts, 0);
}

int main(int argc, char **argv)
{
	time_t end = time(0) + atoi(argv[1]);
	while (time(0) < end) {
		spin();
		nap();
	}
	return 0;
}
""" % (functions - 1))
    src = path + ".c"
    with open(src, "w") as f:
        f.write("".join(body))
    subprocess.run(["cc", "-static", "-O0", "-g", "-o", path, src], check=True)


def test_record_keeps_symbols_whose_heap_fits_the_budget(outdir):
    """The symbol budget counts heap, not the debug sections read from the
    mapped file (page cache, dropped after each flush): with --off-cpu the
    CPU flush follows the off-CPU one and names the same binary, which
    stays loaded under a 1 MiB budget although its lookups read 1.3 MiB of
    mapped DWARF."""
    exe = os.path.join(outdir, "bigdwarf")
    big_dwarf_program(exe)
    read = 0
    out = subprocess.run(["readelf", "-S", "-W", exe], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        m = re.search(r"\.debug_(info|abbrev|line|str|line_str|aranges)\s+\S+\s+\S+\s+\S+"
                      r"\s+([0-9a-f]+)", line)
        if m:
            read += int(m.group(2), 16)
    assert read > 1 << 20, "the test program's DWARF is too small: %d bytes" % read
    w = subprocess.Popen([exe, "30"])
    try:
        r = run_ignis("record", "--pid", w.pid, "--duration", 3, "--frequency", 199,
                      "--off-cpu", "--symbol-cache-size", "1MiB", "--output",
                      os.path.join(outdir, "rec"))
    finally:
        w.kill()
        w.wait()
    assert r.returncode == 0, r.stderr
    sym = re.search(r"record: symbols: \d+ addresses named in (\d+) binaries \(\d+ cache "
                    r"hits, (\d+) loads, (\d+) evictions\), (\d+) bytes kept", r.stderr)
    assert sym, r.stderr
    binaries, loads, evictions, kept = map(int, sym.groups())
    # Loaded once for both flushes, never given back.
    assert 1 <= loads <= binaries and evictions == 0, sym.group(0)
    assert 0 < kept <= 1 << 20, sym.group(0)
    folded = read_folded(os.path.join(outdir, "rec", "profile.folded"))
    # Named from that DWARF in both flushes: the hot call under spin, and
    # the sleep under nap.
    def calls(stacks, *chain):
        return any(chain in zip(*(s[i:] for i in range(len(chain)))) for s in stacks)
    assert calls(folded, "main", "spin", "fn_1999"), folded
    offcpu = read_folded(os.path.join(outdir, "rec", "offcpu.folded"))
    assert calls(offcpu, "main", "nap"), offcpu


def test_record_pid_split(workload, outdir, pprof_pb2):
    w = workload("split", 30)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = run_ignis("record", "--pid", w.pid, "--duration", 5, "--frequency", 199,
                  "--output", outdir)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert r.returncode == 0, r.stderr
    # The progress line and the top functions.
    assert re.search(r"recording \d+/5 s, \d+ samples", r.stderr), r.stderr
    # What the recording cost, by phase: the process's CPU (its threads
    # included), so within what the kernel charged it, and most of that
    # (the rest is the exec, the dynamic linker and the exit).
    cpu = re.search(r"ignis: CPU used: ([\d.]+) ms starting \(programs, maps, first tables\), "
                    r"([\d.]+) ms sampling, ([\d.]+) ms naming, ([\d.]+) ms writing files",
                    r.stderr)
    assert cpu, r.stderr
    phases_ms = sum(map(float, cpu.groups()))
    charged_ms = 1000 * (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    assert 0.5 * charged_ms <= phases_ms <= charged_ms + 2, (cpu.group(0), charged_ms)
    # One flush names each binary once: every binary whose symbols were
    # loaded gives them back as soon as its addresses are named.
    sym = re.search(r"record: symbols: \d+ addresses named in \d+ binaries \(\d+ cache hits, "
                    r"(\d+) loads, (\d+) evictions\), (\d+) bytes kept", r.stderr)
    assert sym, r.stderr
    loads, evictions, kept = map(int, sym.groups())
    assert loads >= 1 and evictions == loads and kept == 0, sym.group(0)
    top = r.stdout.splitlines()
    header = next(i for i, l in enumerate(top) if l.split()[-1:] == ["function"])
    ranked = [l.split()[-1] for l in top[header + 1:]]
    assert ranked[:2] == ["leaf_a", "leaf_b"], r.stdout

    folded = read_folded(os.path.join(outdir, "profile.folded"))
    assert set(s[0] for s in folded) == {"split"}, "--pid must keep other processes out"
    a, b = check_split(folded)

    prof = load_pprof(pprof_pb2, os.path.join(outdir, "profile.pb.gz"))
    st = prof.string_table
    assert st[0] == ""
    assert [(st[t.type], st[t.unit]) for t in prof.sample_type] == \
        [("samples", "count"), ("cpu", "nanoseconds")]
    assert (st[prof.period_type.type], st[prof.period_type.unit]) == ("cpu", "nanoseconds")
    assert prof.period == 1_000_000_000 // 199
    assert prof.time_nanos > 0 and 4.5e9 <= prof.duration_nanos <= 7e9
    funcs = {f.id: st[f.name] for f in prof.function}
    locs = {l.id: l for l in prof.location}
    maps = {m.id: m for m in prof.mapping}
    assert len(funcs) == len(prof.function) and 0 not in funcs
    assert len(locs) == len(prof.location) and 0 not in locs
    per_leaf = {}
    for s in prof.sample:
        assert s.value[1] == s.value[0] * prof.period
        labels = {st[l.key]: (st[l.str] if l.str else l.num) for l in s.label}
        assert labels["pid"] == w.pid and labels["comm"] == "split"
        names = [funcs[locs[i].line[0].function_id] for i in s.location_id]
        per_leaf[names[0]] = per_leaf.get(names[0], 0) + s.value[0]
    assert per_leaf.get("leaf_a") == a and per_leaf.get("leaf_b") == b

    # The workload's mapping is named by its path and hex build id.
    exe = os.path.realpath(os.path.join(WORKLOADS, "split"))
    m = [m for m in maps.values() if st[m.filename] == exe]
    assert len(m) == 1, [st[m.filename] for m in maps.values()]
    notes = subprocess.run(["readelf", "-n", exe], capture_output=True, text=True).stdout
    build_id = re.search(r"Build ID: ([0-9a-f]+)", notes).group(1)
    assert st[m[0].build_id] == build_id


def test_go_tool_pprof_reads_it(workload, outdir):
    w = workload("split", 30)
    r = run_ignis("record", "--pid", w.pid, "--duration", 4, "--frequency", 199,
                  "--output", outdir, "--top", 0)
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, HOME=outdir, GOCACHE=os.path.join(outdir, "gocache"),
               GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    top = subprocess.run(["go", "tool", "pprof", "-top", "-nodecount=20",
                          os.path.join(outdir, "profile.pb.gz")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert top.returncode == 0, top.stderr
    flat = {}
    for line in top.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)(m?s)\s+([\d.]+)%.*\s(\S+)$", line)
        if m:
            flat[m.group(4)] = float(m.group(3))
    assert "leaf_a" in flat and "leaf_b" in flat, top.stdout
    assert abs(flat["leaf_a"] / flat["leaf_b"] - RATIO) <= RATIO_TOL, top.stdout
    # parent's cumulative share holds both leaves.
    peek = subprocess.run(["go", "tool", "pprof", "-peek", "^parent$",
                           os.path.join(outdir, "profile.pb.gz")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert peek.returncode == 0, peek.stderr
    assert "leaf_a" in peek.stdout and "leaf_b" in peek.stdout and "run" in peek.stdout


def test_whole_machine_finds_workload(workload, outdir, pprof_pb2):
    w = workload("split", 30)
    p = subprocess.Popen([IGNIS, "record", "--duration", "5", "--frequency", "199",
                          "--output", outdir], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    folded = read_folded(os.path.join(outdir, "profile.folded"))
    check_split(split_stacks(folded))
    # The recorder's own threads are never sampled (by pid: other ignis
    # processes on the machine are fair game).
    prof = load_pprof(pprof_pb2, os.path.join(outdir, "profile.pb.gz"))
    st = prof.string_table
    pids = {l.num for s in prof.sample for l in s.label if st[l.key] == "pid"}
    assert w.pid in pids and p.pid not in pids, "ignis sampled itself"
    assert not any(s[0] == "swapper/0" or s[0].startswith("swapper") for s in folded), \
        "idle samples are not exported by default"


def test_record_prints_its_bpf_run_time_while_stats_are_on(workload, outdir):
    """With kernel.bpf_stats_enabled on, record says what its sample program
    cost (bench/machine reads it there instead of polling bpftool); off, as
    in production, it has nothing to say."""
    w = workload("split", 30)
    path = "/proc/sys/kernel/bpf_stats_enabled"
    with open(path) as f:
        old = f.read().strip()
    try:
        with open(path, "w") as f:
            f.write("1")
        on = run_ignis("record", "--pid", w.pid, "--duration", 2, "--frequency", 199,
                       "--output", outdir, "--top", 0)
    finally:
        with open(path, "w") as f:
            f.write(old)
    assert on.returncode == 0, on.stderr
    m = re.search(r"ignis: BPF run time \(kernel.bpf_stats_enabled\): sample ([\d.]+) ms in "
                  r"(\d+) runs, ([\d.]+) µs a run", on.stderr)
    assert m, on.stderr
    ms, runs, us = float(m.group(1)), int(m.group(2)), float(m.group(3))
    # one run a tick of every CPU, the other processes' included (--pid
    # filters in the program): what the summary says were taken
    taken = int(re.search(r"(\d+) samples taken", on.stderr).group(1))
    assert 0.9 * taken <= runs <= 1.1 * taken + 10, (m.group(0), taken)
    # ms is rounded to 0.1, µs to 0.01
    assert ms > 0 and abs(us * runs / 1e3 - ms) <= 0.05 + 0.005 * runs / 1e3, m.group(0)
    if old == "0":
        off = run_ignis("record", "--pid", w.pid, "--duration", 1, "--frequency", 199,
                        "--output", outdir, "--top", 0)
        assert off.returncode == 0, off.stderr
        assert "BPF run time" not in off.stderr, off.stderr


def test_ctrl_c_stops_early_and_writes(workload, outdir):
    w = workload("split", 30)
    p = subprocess.Popen([IGNIS, "record", "--pid", str(w.pid), "--duration", "60",
                          "--output", outdir], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(2.5)
    # Sending nothing, it never maps libcurl, libmicrohttpd or the TLS
    # libraries they bring (base/dynlib.h): 6 MiB of resident memory.
    with open("/proc/%d/maps" % p.pid) as f:
        maps = f.read()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert "libc.so" in maps
    for lib in ("libcurl", "libmicrohttpd", "libgnutls", "libssl", "libdebuginfod"):
        assert lib not in maps, lib
    folded = read_folded(os.path.join(outdir, "profile.folded"))
    assert sum(folded.values()) > 50
    assert os.path.getsize(os.path.join(outdir, "profile.pb.gz")) > 0
    assert "leaf_a" in out


@pytest.mark.parametrize("args,message", [
    (["record", "--duration", "abc"], "--duration 'abc'"),
    (["record", "--duration", "0"], "--duration '0'"),
    (["record", "--frequency", "0"], "--frequency '0'"),
    (["record", "--frequency", "-5"], "--frequency '-5'"),
    (["record", "--frequency", "99999999"], "--frequency '99999999'"),
    (["record", "--pid", "x"], "--pid 'x'"),
    (["record", "--pid", "999999999"], "--pid 999999999: no such process"),
    (["record", "--bogus"], "unrecognized option"),
    (["record", "extra"], "unexpected argument 'extra'"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    ([], "usage:"),
])
def test_bad_flags(args, message):
    r = run_ignis(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert message in r.stderr, r.stderr


def test_unwritable_output(outdir):
    f = os.path.join(outdir, "a-file")
    open(f, "w").close()
    r = run_ignis("record", "--duration", 1, "--output", os.path.join(f, "sub"))
    assert r.returncode != 0
    assert "cannot create output directory" in r.stderr, r.stderr
    r = run_ignis("record", "--duration", 1, "--output", "/proc/sys")
    assert r.returncode != 0
    assert "cannot write to output directory /proc/sys" in r.stderr, r.stderr


def test_not_root(outdir):
    os.chmod(outdir, 0o777)
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", IGNIS, "record", "--duration", "1",
                        "--output", outdir], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "needs root, or the capabilities CAP_BPF and CAP_PERFMON" in r.stderr, r.stderr


def test_no_btf(outdir):
    sysroot = os.path.join(outdir, "sys")
    os.makedirs(os.path.join(sysroot, "kernel"))
    r = run_ignis("record", "--duration", 1, "--output", outdir, "--sys-root", sysroot)
    assert r.returncode == 1, r.stderr
    assert "no BTF type information" in r.stderr and "CONFIG_DEBUG_INFO_BTF" in r.stderr
