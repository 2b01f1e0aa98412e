"""Names as users judge them: inlined frames with file:line, demangled C++
and Rust, Go with and without symbols, JIT code from perf maps, stripped
binaries whose debug info lives elsewhere (a debug directory, a
.gnu_debuglink, a debuginfod server), binaries only another mount namespace
can see, and processes that exit before the profile is written."""
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import IGNIS, ROOT, WORKLOADS, go_build, load_pprof, read_folded, run_ignis

SRC = os.path.join(ROOT, "tests", "workloads")
HZ = 199


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="ignis-sym-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_outside_debuginfod(monkeypatch):
    """Debian's profile.d points DEBUGINFOD_URLS at debuginfod.debian.net:
    tests talk to loopback only."""
    monkeypatch.delenv("DEBUGINFOD_URLS", raising=False)


def tool(name):
    path = shutil.which(name) or shutil.which(name, path="/root/.cargo/bin:/usr/lib/go/bin")
    assert path, "%s is needed by this test (scripts/deps.sh installs it)" % name
    return path


def record(pid, outdir, *extra, duration=3, env=None):
    r = run_ignis("record", "--pid", pid, "--duration", duration, "--frequency", HZ,
                  "--output", outdir, "--top", 0, *extra, env=env)
    assert r.returncode == 0, r.stderr
    return r


def start(cmd, **kw):
    p = subprocess.Popen([str(c) for c in cmd], **kw)
    time.sleep(0.5)
    assert p.poll() is None, "%s exited early" % cmd
    return p


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def record_running(cmd, outdir, *extra, env=None, settle=0, **popen):
    """Starts cmd, records it into outdir, stops it."""
    w = start(cmd, **popen)
    try:
        if settle:
            time.sleep(settle)
        record(w.pid, outdir, *extra, env=env)
    finally:
        stop(w)
    return w


def stacks_of(prof):
    """[(count, [(function, system_name, filename, line, start_line, inlined)]
    leaf first)] with every line of every location."""
    strings = prof.string_table
    fns = {f.id: f for f in prof.function}
    locs = {l.id: l for l in prof.location}
    out = []
    for s in prof.sample:
        frames = []
        for lid in s.location_id:
            lines = locs[lid].line
            for i, ln in enumerate(lines):
                f = fns[ln.function_id]
                frames.append((strings[f.name], strings[f.system_name], strings[f.filename],
                               ln.line, f.start_line, i + 1 < len(lines)))
        out.append((s.value[0], frames))
    return out


def names_in(outdir, pprof_pb2):
    prof = load_pprof(pprof_pb2, os.path.join(outdir, "profile.pb.gz"))
    return stacks_of(prof)


def marker_lines(path, marker):
    with open(path) as f:
        return [i + 1 for i, l in enumerate(f) if marker in l]


def share_under(stacks, fn):
    """Fraction of samples with a frame whose function name satisfies fn."""
    total = sum(c for c, _ in stacks)
    hit = sum(c for c, frames in stacks if any(fn(f[0]) for f in frames))
    assert total > 0, "no samples"
    return hit / total


# ---- C++: inline frames, lines, demangling ---------------------------------

def test_cpp_inlined_helper_and_demangled_names(tmp, pprof_pb2):
    src = os.path.join(SRC, "cpp_inline.cc")
    record_running([os.path.join(WORKLOADS, "cpp_inline"), 30], tmp)
    stacks = names_in(tmp, pprof_pb2)
    body = marker_lines(src, "SCRAMBLE-BODY")
    call = marker_lines(src, "SCRAMBLE-CALL")
    run = "shapes::Accumulator<unsigned long>::run(std::vector<unsigned long, " \
          "std::allocator<unsigned long> > const&)"
    leaf_hits = 0
    total = sum(c for c, _ in stacks)
    for count, frames in stacks:
        if frames[0][0] != "shapes::scramble(unsigned long)":
            continue
        name, system_name, filename, line, _, inlined = frames[0]
        assert inlined, "the helper must be an inlined frame of its caller's location"
        assert system_name == "_ZN6shapes8scrambleEm"
        assert filename.endswith("tests/workloads/cpp_inline.cc")
        assert body[0] - 3 <= line <= body[-1] + 3, (line, body)
        caller = frames[1]
        assert caller[0] == run, caller
        assert caller[1] == "_ZN6shapes11AccumulatorImE3runERKSt6vectorImSaImEE"
        assert caller[3] == call[0], (caller, call)
        assert not caller[5]
        leaf_hits += count
    # Nearly all the time goes to the helper's loop.
    assert leaf_hits >= 0.8 * total, (leaf_hits, total, stacks[:5])
    # The lambda sits under main, demangled.
    assert share_under(stacks, lambda n: n.startswith("main::{lambda(int)#1}::operator()")) \
        >= 0.8
    # The folded file shows the inlined helper as a frame of its own.
    folded = read_folded(os.path.join(tmp, "profile.folded"))
    assert any(s[-1] == "shapes::scramble(unsigned long)" and s[-2] == run for s in folded), \
        list(folded)[:5]


# ---- stripped binaries and their debug files --------------------------------

def stripped_split(tmp):
    """A copy of the split workload without any symbols, and its debug file."""
    exe = os.path.join(tmp, "bin", "split-stripped")
    os.makedirs(os.path.dirname(exe))
    dbg = os.path.join(tmp, "split.debug")
    shutil.copy(os.path.join(WORKLOADS, "split"), exe)
    subprocess.run(["objcopy", "--only-keep-debug", exe, dbg], check=True)
    subprocess.run(["strip", "--strip-all", exe], check=True)
    nm = subprocess.run(["nm", exe], capture_output=True, text=True)
    assert "no symbols" in nm.stderr, nm
    bid = subprocess.run(["readelf", "-n", exe], capture_output=True, text=True, check=True)
    build_id = next(l.split()[-1] for l in bid.stdout.splitlines() if "Build ID" in l)
    return exe, dbg, build_id


def assert_split_named(stacks):
    for leaf in ("leaf_a", "leaf_b"):
        assert share_under(stacks, lambda n: n == leaf) > 0.1, (leaf, stacks[:5])
    for count, frames in stacks:
        names = [f[0] for f in frames]
        for leaf in ("leaf_a", "leaf_b"):
            if leaf in names:
                i = names.index(leaf)
                assert names[i + 1:i + 4] == ["parent", "run", "main"], names
                assert frames[i][2].endswith("tests/workloads/split.c"), frames[i]
                assert frames[i][3] > 0


def test_stripped_binary_debug_file_under_build_id(tmp, pprof_pb2):
    exe, dbg, build_id = stripped_split(tmp)
    dest = os.path.join(tmp, "debug", ".build-id", build_id[:2], build_id[2:] + ".debug")
    os.makedirs(os.path.dirname(dest))
    shutil.move(dbg, dest)
    record_running([exe, 30], os.path.join(tmp, "out"), "--debug-dir",
                   os.path.join(tmp, "debug"))
    assert_split_named(names_in(os.path.join(tmp, "out"), pprof_pb2))


def test_stripped_binary_gnu_debuglink(tmp, pprof_pb2):
    exe, dbg, _ = stripped_split(tmp)
    subprocess.run(["objcopy", "--add-gnu-debuglink=" + dbg, exe], check=True)
    # Next to the binary, one of the standard places.
    shutil.move(dbg, os.path.join(os.path.dirname(exe), "split.debug"))
    record_running([exe, 30], os.path.join(tmp, "out"))
    assert_split_named(names_in(os.path.join(tmp, "out"), pprof_pb2))


def test_gnu_debuglink_with_wrong_crc_is_not_used(tmp, pprof_pb2):
    exe, dbg, _ = stripped_split(tmp)
    subprocess.run(["objcopy", "--add-gnu-debuglink=" + dbg, exe], check=True)
    # A debug file of another build under the linked name.
    with open(dbg, "ab") as f:
        f.write(b"\0" * 16)
    shutil.move(dbg, os.path.join(os.path.dirname(exe), "split.debug"))
    record_running([exe, 30], os.path.join(tmp, "out"))
    stacks = names_in(os.path.join(tmp, "out"), pprof_pb2)
    assert share_under(stacks, lambda n: n in ("leaf_a", "leaf_b")) == 0
    assert share_under(stacks, lambda n: n.startswith("[unknown] split-stripped+0x")) > 0.9


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_stripped_binary_debug_file_from_debuginfod(tmp, pprof_pb2):
    exe, dbg, build_id = stripped_split(tmp)
    served = os.path.join(tmp, "served")
    os.makedirs(served)
    shutil.move(dbg, os.path.join(served, "split.debug"))
    port = free_port()
    server = subprocess.Popen([tool("debuginfod"), "-p", str(port), "-d",
                               os.path.join(tmp, "db.sqlite"), "-F", served],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = "http://127.0.0.1:%d" % port
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen("%s/buildid/%s/debuginfo" % (url, build_id),
                                            timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.time() < deadline, "debuginfod did not index the file"
            time.sleep(0.2)
        cache = os.path.join(tmp, "cache")
        record_running([exe, 30], os.path.join(tmp, "out"), "--debuginfod-cache", cache,
                       env=dict(os.environ, DEBUGINFOD_URLS=url))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert_split_named(names_in(os.path.join(tmp, "out"), pprof_pb2))
    cached = [p for p in glob.glob(os.path.join(cache, "**"), recursive=True)
              if os.path.isfile(p) and build_id in p]
    assert cached, "the fetched file is kept in the cache"


def mapped_lib(pid, name):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            path = line.split()[-1]
            if os.path.basename(path) == name:
                return path
    raise AssertionError("%s is not mapped by %d" % (name, pid))


def build_id_of(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "Build ID:" in line:
            return line.split("Build ID:")[1].strip()
    raise AssertionError("no build id in %s" % path)


def lib_functions(stacks, libs_functions):
    """{name: (filename, start_line, inlined)} of the frames named from
    DWARF (a filename) among the given functions."""
    out = {}
    for _, frames in stacks:
        for name, _, filename, _, start_line, inlined in frames:
            if name in libs_functions and filename:
                out[name] = (filename, start_line, inlined)
    return out


def test_compressed_debug_files_inflated_once_on_disk(tmp, pprof_pb2):
    """libc6-dbg's debug files have zlib-compressed DWARF: the first record
    writes uncompressed copies under <debuginfod cache>/inflated, root-only,
    named by build id; the next one reads them without writing; with a cache
    that cannot be written the sections are inflated in memory. Names, inline
    frames and files are the same all three ways."""
    cache = os.path.join(tmp, "cache")
    blocked = os.path.join(tmp, "a-file")
    with open(blocked, "w") as f:
        f.write("not a directory\n")
    w = start([os.path.join(WORKLOADS, "libs_nofp"), 60])
    runs = []
    try:
        libm_id = build_id_of(mapped_lib(w.pid, "libm.so.6"))
        for i, c in enumerate([cache, cache, blocked]):
            out = os.path.join(tmp, "out%d" % i)
            r = record(w.pid, out, "--debuginfod-cache", c)
            runs.append((r.stderr, names_in(out, pprof_pb2)))
    finally:
        stop(w)

    def inflated_line(stderr):
        lines = [l for l in stderr.splitlines() if "inflated debug files:" in l]
        assert len(lines) == 1, stderr
        return lines[0]

    first, second, blocked_run = (inflated_line(e) for e, _ in runs)
    assert " 0 failed" in first and "(0 written)" not in first, first
    used = first.split("inflated debug files: ")[1].split(" used")[0]
    assert int(used) >= 1 and "(%s written)" % used in first, first
    assert "%s used (0 written), 0 failed, 0 did not match" % used in second, second
    assert " 0 used (0 written)" in blocked_run and " 0 failed" not in blocked_run, blocked_run

    inflated = os.path.join(cache, "inflated")
    assert os.stat(inflated).st_mode & 0o777 == 0o700
    copies = os.listdir(inflated)
    assert any(c.startswith(libm_id + "-") and c.endswith(".elf") for c in copies), copies
    for c in copies:
        assert not c.startswith("."), "a temporary file was left: %s" % c
        assert os.stat(os.path.join(inflated, c)).st_mode & 0o777 == 0o600

    # Functions only DWARF names this way: an inlined frame of libm's
    # fenv_private.h, libc's msort.c.
    wanted = {"libc_feholdsetround_sse_ctx", "do_sin", "do_cos", "reduce_sincos",
              "__sincos_fma", "msort_with_tmp", "msort_with_tmp.part.0", "qsort_r", "rand_r"}
    seen = [lib_functions(stacks, wanted) for _, stacks in runs]
    for fns in seen:
        assert fns.get("libc_feholdsetround_sse_ctx", ("", 0, False))[0].endswith(
            "fenv_private.h"), fns
        assert fns["libc_feholdsetround_sse_ctx"][2], "an inlined frame: %s" % fns
        assert any(v[0].endswith("msort.c") for v in fns.values()), fns
    for fns in seen[1:]:
        for name in set(fns) & set(seen[0]):
            assert fns[name] == seen[0][name], (name, fns[name], seen[0][name])


# ---- Rust and Go ------------------------------------------------------------

@pytest.mark.parametrize("mangling,debug", [("legacy", True), ("v0", False)])
def test_rust_names(tmp, pprof_pb2, mangling, debug):
    exe = os.path.join(tmp, "rust_hot")
    cmd = [tool("rustc"), "-C", "opt-level=1", "-o", exe, os.path.join(SRC, "rust_hot.rs")]
    # Stable rustc mangles the legacy way unless told otherwise.
    if mangling == "v0":
        cmd += ["-C", "symbol-mangling-version=v0"]
    subprocess.run(cmd + (["-g"] if debug else []), check=True, cwd=tmp)
    record_running([exe, 30], os.path.join(tmp, "out"))
    stacks = names_in(os.path.join(tmp, "out"), pprof_pb2)
    assert share_under(stacks, lambda n: n == "rust_hot::hot_loop") > 0.8, stacks[:5]
    assert share_under(stacks, lambda n: n == "rust_hot::spin") > 0.8
    for _, frames in stacks:
        for f in frames:
            if f[0] == "rust_hot::hot_loop":
                prefix = "_ZN" if mangling == "legacy" else "_R"
                assert f[1].startswith(prefix), f


@pytest.fixture(scope="module")
def go_builds():
    """go_hot built by a Go version, with symbols and stripped (once per
    version and kind); skipped when this machine lacks that Go."""
    d = tempfile.mkdtemp(prefix="ignis-go-")
    exes = {}

    def build(version, kind):
        if (version, kind) not in exes:
            out = os.path.join(d, version)
            os.makedirs(out, exist_ok=True)
            flags = ["-ldflags=-s -w"] if kind == "stripped" else []
            exes[version, kind] = go_build(version, os.path.join(SRC, "go_hot.go"),
                                           os.path.join(out, "go_hot_" + kind), *flags)
        return exes[version, kind]

    yield build
    shutil.rmtree(d, ignore_errors=True)


# Debian's Go both ways; a newer one (1.21: the frame pointer pushed before
# the frame is made) stripped, where only its .gopclntab names functions.
@pytest.mark.parametrize("kind,version", [("symbols", "1.19"), ("stripped", "1.19"),
                                          ("stripped", "1.21")])
def test_go_names(tmp, pprof_pb2, go_builds, kind, version):
    exe = go_builds(version, kind)
    if kind == "stripped":
        nm = subprocess.run(["nm", exe], capture_output=True, text=True)
        assert "no symbols" in nm.stderr, nm
    record_running([exe, 30], os.path.join(tmp, "out"))
    stacks = names_in(os.path.join(tmp, "out"), pprof_pb2)
    assert share_under(stacks, lambda n: n == "main.hotLoop") > 0.7, stacks[:5]
    assert share_under(stacks, lambda n: n == "main.main") > 0.7
    # Without symbols there is no CFI either (-w drops .debug_frame), and the
    # frame-pointer walk cannot see the caller of a frameless Go leaf such as
    # hotLoop: main.spin is under the hot path only when CFI is. (Stripped,
    # it shows up only in the few samples taken in spin's own code, and a
    # run may have none: nothing to assert there.)
    if kind == "symbols":
        assert share_under(stacks, lambda n: n == "main.spin") > 0.7


# ---- JIT: Node.js with --perf-basic-prof -----------------------------------

def test_node_perf_map(tmp, pprof_pb2):
    # V8 writes an isolate log into its working directory; settle: let it
    # optimize the hot function.
    w = record_running([tool("node"), "--perf-basic-prof", os.path.join(SRC, "node_hot.js"),
                        30], os.path.join(tmp, "out"), settle=1, cwd=tmp)
    for p in glob.glob("/tmp/perf-%d.map" % w.pid):
        os.unlink(p)
    stacks = names_in(os.path.join(tmp, "out"), pprof_pb2)
    assert share_under(stacks, lambda n: "hotJsFunction" in n) > 0.5, \
        sorted({f[0] for _, fr in stacks for f in fr})[:40]


# ---- containers and short-lived processes -----------------------------------

def test_binary_only_in_another_mount_namespace(tmp, pprof_pb2):
    """The workload runs from a tmpfs mounted in a private mount namespace:
    the host's view of that directory stays empty."""
    mnt = os.path.join(tmp, "private")
    os.makedirs(mnt)
    src = os.path.join(WORKLOADS, "split")
    script = 'mount -t tmpfs tmpfs "$1" && cp "$2" "$1/split-ns" && exec "$1/split-ns" 30'
    w = start(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", mnt,
               src])
    try:
        assert not os.path.exists(os.path.join(mnt, "split-ns")), "host sees the private file"
        record(w.pid, os.path.join(tmp, "out"))
    finally:
        stop(w)
    assert_split_named(names_in(os.path.join(tmp, "out"), pprof_pb2))


def test_process_that_exits_before_the_flush(tmp, pprof_pb2):
    """A 0.5 s process, started and gone in the middle of a recording."""
    out = os.path.join(tmp, "out")
    exe = os.path.join(tmp, "split-brief")
    shutil.copy(os.path.join(WORKLOADS, "split"), exe)
    rec = subprocess.Popen([IGNIS, "record", "--duration", "4", "--frequency", str(HZ),
                            "--output", out, "--top", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    brief = subprocess.run([exe, "0.5"], check=True)
    assert brief.returncode == 0
    # Gone, and its file too: only what was kept from first sight can name it.
    os.unlink(exe)
    stdout, stderr = rec.communicate(timeout=60)
    assert rec.returncode == 0, stderr
    folded = read_folded(os.path.join(out, "profile.folded"))
    brief_stacks = {s: c for s, c in folded.items() if s[0] == "split-brief"}
    # Names are the point here, not counts: a busy machine gives it less CPU.
    assert sum(brief_stacks.values()) >= 10, brief_stacks
    for leaf in ("leaf_a", "leaf_b"):
        assert any(s[-4:] == ("main", "run", "parent", leaf) for s in brief_stacks), \
            list(brief_stacks)[:5]
