"""User stacks walked in the kernel from unwind tables (the default
--unwind kernel): records carry frames and no stack bytes; code that
appears after recording started (dlopen, new processes), binaries only a
private mount namespace can see, stripped Go (tables from .gopclntab), and
an exec storm under a small table budget."""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import IGNIS, ROOT, WORKLOADS, go_build, read_folded, run_ignis

SRC = os.path.join(ROOT, "tests", "workloads")
# offsetof(struct ignis_sample, frames) in bpf/sampler.h; the unit test
# test_sampler checks the same number against the header.
SAMPLE_HDR = 112


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="ignis-walker-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def base(name):
    return re.sub(r"\.(constprop|isra|part|cold)\.\d+$", "", name)


def summary(stderr):
    """The walk outcomes and record sizes from record's summary lines."""
    out = {}
    m = re.search(r"user stacks walked in the kernel: (\d+) complete from unwind tables, "
                  r"(\d+) partly by frame pointers \((\d+) where a table was not loaded yet, "
                  r"(\d+) in code not known to the walker yet\), "
                  r"(\d+) truncated at 256 frames, (\d+) at a rule the walker cannot apply, "
                  r"(\d+) at an unreadable stack, (\d+) ended otherwise", stderr)
    if m:
        for k, v in zip(("complete", "fp", "pending", "unmapped", "truncated", "unexpressible",
                         "read_failed", "other"), m.groups()):
            out[k] = int(v)
    m = re.search(r"unwind tables: (\d+) loaded, (\d+) KiB of (\d+) KiB, (\d+) evicted, "
                  r"(\d+) waiting for room, (\d+) binaries without a table, (\d+) mapping "
                  r"prefixes", stderr)
    if m:
        for k, v in zip(("tables", "table_kib", "budget_kib", "evicted", "waiting", "no_table",
                         "prefixes"), m.groups()):
            out[k] = int(v)
    m = re.search(r"(\d+) samples received with (\d+) frames in (\d+) bytes, (\d+) of them "
                  r"user stack", stderr)
    if m:
        for k, v in zip(("records", "frames", "bytes", "stack_bytes"), m.groups()):
            out[k] = int(v)
    return out


def record(outdir, *args, seconds=4, hz=199):
    r = run_ignis("record", "--duration", seconds, "--frequency", hz, "--output", outdir,
                  "--top", 0, *args, timeout=300)
    assert r.returncode == 0, r.stderr
    return read_folded(os.path.join(outdir, "profile.folded")), r.stderr


def reaches_main(stack):
    names = [base(f) for f in stack[1:]]
    return "main" in names and names[0] in ("_start", "__libc_start_main",
                                            "__libc_start_call_main")


def complete_share(folded, comm=None):
    mine = {s: c for s, c in folded.items() if comm is None or s[0] == comm}
    total = sum(mine.values())
    return (sum(c for s, c in mine.items() if reaches_main(s)) / total if total else 0), total


def test_records_carry_frames_not_stack_bytes(workload, tmp):
    """Default mode: every record is the header and its frames, exactly,
    and no byte of user stack reaches the agent; the copy mode, for
    contrast, sends the copy (so this test can tell them apart)."""
    w = workload("libs_nofp", 30)
    folded, err = record(os.path.join(tmp, "k"), "--pid", w.pid, seconds=3)
    st = summary(err)
    assert st.get("records", 0) > 100, err
    assert st["stack_bytes"] == 0, err
    assert st["bytes"] == st["records"] * SAMPLE_HDR + 8 * st["frames"], st
    # Whole stacks: a few hundred bytes a sample, where the copy sends 16 KiB.
    assert st["bytes"] / st["records"] < SAMPLE_HDR + 8 * 64, st
    share, total = complete_share(folded)
    assert share >= 0.99, (share, total)

    _, err = record(os.path.join(tmp, "c"), "--pid", w.pid, "--unwind", "copy", seconds=2)
    st = summary(err)
    assert st["records"] > 50 and st["stack_bytes"] > st["records"] * 256, err


def test_signal_frames_are_walked_through(workload, tmp):
    """Samples in a signal handler continue through the kernel's signal
    frame (__restore_rt: the interrupted registers in the ucontext) to the
    interrupted function and main."""
    w = workload("signal_nofp", 30)
    folded, err = record(os.path.join(tmp, "out"), "--pid", w.pid, seconds=3)
    handler = {s: c for s, c in folded.items() if "in_handler" in s}
    total = sum(handler.values())
    assert total > 100, sorted(folded.items(), key=lambda x: -x[1])[:5]
    # main → spin_main (interrupted) → __restore_rt (the trampoline, named
    # though libc's .symtab is stripped) → the handler.
    through = sum(c for s, c in handler.items() if reaches_main(s) and "spin_main" in s and
                  "__restore_rt" in s and
                  s.index("spin_main") < s.index("__restore_rt") < s.index("in_handler"))
    assert through >= 0.95 * total, sorted(handler.items(), key=lambda x: -x[1])[:5]
    st = summary(err)
    assert st["unexpressible"] == 0 and st["read_failed"] <= st["records"] // 100, err


def test_signal_at_a_function_entry(workload, tmp):
    """A signal taken at a function's first instruction (ud2 → SIGILL):
    the interrupted frame is that instruction, not a return address, so it
    is named for itself (fault_here), never for what lies before it."""
    w = workload("fault_entry_nofp", 30)
    folded, err = record(os.path.join(tmp, "out"), "--pid", w.pid, seconds=3)
    handler = {s: c for s, c in folded.items() if "in_handler" in s}
    total = sum(handler.values())
    assert total > 100, sorted(folded.items(), key=lambda x: -x[1])[:5]
    named = sum(c for s, c in handler.items()
                if "__restore_rt" in s and s[s.index("__restore_rt") - 1] == "fault_here" and
                "fault_loop" in s and reaches_main(s))
    assert named >= 0.95 * total, sorted(handler.items(), key=lambda x: -x[1])[:5]


def test_debug_frame_from_a_separate_debug_file(tmp):
    """A program built without asynchronous unwind tables has its CFI in
    .debug_frame only; stripped, that is in its debug file (found by build
    id under --debug-dir), which the table compiler then reads."""
    exe = os.path.join(tmp, "dframe_nofp")
    subprocess.run(["cc", "-O2", "-g", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables",
                    "-fno-unwind-tables", "-o", exe, os.path.join(SRC, "libs_nofp.c"), "-lm"],
                   check=True)
    note = subprocess.run(["readelf", "-n", exe], capture_output=True, text=True).stdout
    build_id = re.search(r"Build ID: ([0-9a-f]+)", note).group(1)
    dbgdir = os.path.join(tmp, "debug")
    dbg = os.path.join(dbgdir, ".build-id", build_id[:2], build_id[2:] + ".debug")
    os.makedirs(os.path.dirname(dbg))
    subprocess.run(["objcopy", "--only-keep-debug", exe, dbg], check=True)
    subprocess.run(["strip", "--strip-debug", exe], check=True)
    sections = subprocess.run(["readelf", "-SW", exe], capture_output=True, text=True).stdout
    assert ".debug_frame" not in sections
    shares = {}
    for name, extra in (("with", ["--debug-dir", dbgdir]), ("without", [])):
        p = subprocess.Popen([exe, "30"])
        try:
            time.sleep(0.3)
            folded, err = record(os.path.join(tmp, name), "--pid", p.pid, *extra, seconds=3)
        finally:
            p.kill()
            p.wait()
        shares[name] = complete_share(folded)
        assert shares[name][1] > 200, (name, shares)
    assert shares["with"][0] >= 0.99, shares
    # Without it the program's own frames have no CFI: the walk cannot get
    # through them (this is what makes the first figure mean something).
    assert shares["without"][0] < 0.5, shares


def build_plugin(tmp):
    src = os.path.join(tmp, "plugin.c")
    with open(src, "w") as f:
        f.write("""
static volatile unsigned long s;
__attribute__((noinline)) static unsigned long plugin_inner(unsigned long n)
{
    unsigned long x = s;
    for (unsigned long i = 0; i < n; i++)
        x = x * 6364136223846793005UL + i;
    return x;
}
__attribute__((noinline)) unsigned long plugin_work(unsigned long n)
{
    volatile char pad[64] = { 1 };
    return plugin_inner(n) + pad[n % 64];
}
""")
    lib = os.path.join(tmp, "libplugin_nofp.so")
    subprocess.run(["cc", "-O2", "-g", "-fomit-frame-pointer", "-shared", "-fPIC", "-o", lib,
                    src], check=True)
    return lib


def test_library_loaded_after_recording_started(tmp):
    """The library is mapped 1.5 s into the recording: its table is
    compiled then, and its stacks reach main like the rest."""
    lib = build_plugin(tmp)
    p = subprocess.Popen([os.path.join(WORKLOADS, "dlopen_nofp"), "30", lib, "1.5"])
    try:
        time.sleep(0.3)
        folded, err = record(os.path.join(tmp, "out"), "--pid", p.pid, seconds=7)
    finally:
        p.kill()
        p.wait()
    plug = {s: c for s, c in folded.items() if "plugin_inner" in s}
    total = sum(plug.values())
    assert total > 300, sorted(folded.items(), key=lambda x: -x[1])[:5]
    good = sum(c for s, c in plug.items() if reaches_main(s) and
               [base(f) for f in s[-3:]] == ["run_plugin", "plugin_work", "plugin_inner"])
    # Samples taken before the table was in are walked by frame pointers
    # (counted); they are the first moments only.
    assert good >= 0.9 * total, (good, total, sorted(plug.items(), key=lambda x: -x[1])[:5])
    st = summary(err)
    assert st["tables"] >= 4, err  # the program, libc, ld.so, the plugin


def test_process_started_after_the_recording(tmp):
    """The whole machine is recorded; libs_nofp starts a second later, a
    binary the store has then never seen mapped by this process."""
    out = os.path.join(tmp, "out")
    rec = subprocess.Popen([IGNIS, "record", "--duration", "7", "--frequency", "199",
                            "--output", out, "--top", "0"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)  # past the start-up table loading
    w = subprocess.Popen([os.path.join(WORKLOADS, "libs_nofp"), "20"])
    try:
        _, err = rec.communicate(timeout=120)
    finally:
        w.kill()
        w.wait()
    assert rec.returncode == 0, err
    folded = read_folded(os.path.join(out, "profile.folded"))
    share, total = complete_share(folded, "libs_nofp")
    assert total > 300, total
    assert share >= 0.95, (share, total)
    st = summary(err)
    assert st["complete"] > 0 and st["stack_bytes"] == 0, err


def test_a_new_dynamic_program_is_known_within_milliseconds(tmp):
    """record -- libs_nofp: its first sample wakes the agent, which reads
    its maps while ld.so is still mapping the libraries; the first sample
    in one of them wakes it again, and the maps are read again within
    5 ms, not 50. Samples walked by frame pointers as code not known to
    the walker yet: 1-5 of 2,000 (at 50 ms, 48 in one run of two)."""
    unknown = []
    for _ in range(3):
        r = run_ignis("record", "--frequency", 999, "--unwind", "kernel", "--output", tmp,
                      "--top", 0, "--", os.path.join(WORKLOADS, "libs_nofp"), 2, timeout=120)
        assert r.returncode == 0, r.stderr
        m = re.search(r"user stacks walked in the kernel: (\d+) complete from unwind tables, "
                      r"\d+ partly by frame pointers \(\d+ where a table was not loaded yet, "
                      r"(\d+) in code not known to the walker yet\)", r.stderr)
        assert m, r.stderr
        assert int(m.group(1)) >= 1500, r.stderr
        unknown.append(int(m.group(2)))
    print("samples in code not known yet, per run:", unknown)
    assert max(unknown) <= 25, unknown


def test_binary_in_a_private_mount_namespace(tmp):
    """The program runs from a bind mount only its own mount namespace
    has: the table comes from the mapped file itself."""
    src = os.path.join(tmp, "src")
    mnt = os.path.join(tmp, "mnt")
    os.makedirs(src)
    os.makedirs(mnt)
    shutil.copy(os.path.join(WORKLOADS, "libs_nofp"), os.path.join(src, "hidden_nofp"))
    p = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                          "mount --bind %s %s && exec %s/hidden_nofp 30" % (src, mnt, mnt)])
    try:
        time.sleep(0.5)
        assert p.poll() is None
        assert not os.path.exists(os.path.join(mnt, "hidden_nofp"))  # not from here
        folded, err = record(os.path.join(tmp, "out"), "--pid", p.pid, seconds=4)
    finally:
        p.kill()
        p.wait()
    share, total = complete_share(folded)
    assert total > 300
    assert share >= 0.99, (share, total, sorted(folded.items(), key=lambda x: -x[1])[:5])
    assert any("phase_trig" in [base(f) for f in s] for s in folded)


# Debian's Go, and one whose prologues push BP before making the frame.
@pytest.mark.parametrize("version", ["1.19", "1.23"])
def test_stripped_go_has_spin_under_hot_loop(tmp, version):
    """Without symbols and without .debug_frame, .gopclntab's frame sizes
    give the table: main.spin is found under main.hotLoop (the
    frame-pointer walk skips it, as hotLoop keeps no frame)."""
    exe = go_build(version, os.path.join(SRC, "go_hot.go"), os.path.join(tmp, "go_hot_stripped"),
                   "-ldflags=-s -w")
    nm = subprocess.run(["nm", exe], capture_output=True, text=True)
    assert "no symbols" in nm.stderr, nm
    p = subprocess.Popen([exe, "30"])
    try:
        time.sleep(0.5)
        r = run_ignis("record", "--pid", p.pid, "--duration", 4, "--frequency", 199, "--output",
                      os.path.join(tmp, "out"), "--top", 0)
    finally:
        p.kill()
        p.wait()
    assert r.returncode == 0, r.stderr
    folded = read_folded(os.path.join(tmp, "out", "profile.folded"))
    total = sum(folded.values())
    hot = sum(c for s, c in folded.items() if "main.hotLoop" in s)
    under = sum(c for s, c in folded.items()
                if "main.hotLoop" in s and s.index("main.hotLoop") > 0 and
                s[s.index("main.hotLoop") - 1] == "main.spin" and "main.main" in s)
    assert total > 300
    assert hot >= 0.7 * total, sorted(folded.items(), key=lambda x: -x[1])[:5]
    assert under >= 0.95 * hot, (under, hot, sorted(folded.items(), key=lambda x: -x[1])[:5])


def test_exec_storm_stays_in_budget(tmp):
    """1,000 exec/s asked for 25 s (what this machine reaches is printed),
    the whole machine recorded with 2 MiB of table memory: the store stays
    within it, the walker's per-process entries go with the processes,
    nothing crashes, and the busy workload beside the storm still unwinds
    (its tables are in use, so newcomers wait rather than evict them)."""
    out = os.path.join(tmp, "out")
    w = subprocess.Popen([os.path.join(WORKLOADS, "libs_nofp"), "60"])
    rec = subprocess.Popen([IGNIS, "record", "--duration", "30", "--frequency", "99",
                            "--output", out, "--top", "0", "--unwind-table-memory", "2MiB"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        storm = subprocess.run([os.path.join(WORKLOADS, "exec_storm"), "25", "1000",
                                "/bin/true"], capture_output=True, text=True,
                               timeout=120)
        _, err = rec.communicate(timeout=120)
    finally:
        rec.kill()
        w.kill()
        w.wait()
    assert rec.returncode == 0, err
    print("exec storm:", storm.stdout.strip())
    started = int(storm.stdout.split()[0])
    assert started >= 2500, storm.stdout  # the storm really ran
    folded = read_folded(os.path.join(out, "profile.folded"))
    st = summary(err)
    assert st["budget_kib"] == 2048, err
    assert st["table_kib"] <= st["budget_kib"], err
    # Exited processes' prefixes are gone: what is left is the living ones'.
    assert st["prefixes"] < 20000, err
    assert st["stack_bytes"] == 0, err
    comms = {s[0] for s in folded}
    assert "env" in comms or "true" in comms or "exec_storm" in comms, sorted(comms)
    share, total = complete_share(folded, "libs_nofp")
    # What went wrong, if it does: the store's counters and the stacks
    # that stopped short (one CI run saw a share of 0.58).
    short = sorted(((c, s) for s, c in folded.items()
                    if s[0] == "libs_nofp" and not reaches_main(s)), reverse=True)[:5]
    assert total > 500 and share >= 0.9, (share, total, st, short)


def test_bad_table_memory_flag():
    for bad in ("0", "4097", "x", "-1"):
        r = run_ignis("record", "--unwind-table-memory", bad)
        assert r.returncode == 2 and "--unwind-table-memory '%s'" % bad in r.stderr, r.stderr
