"""Names that are not UTF-8 end to end: a JIT whose perf map names its code
with stray bytes (seen: b"jit_spin_\\xff\\xfe_bad\\xc3"). Every output and
every intake gets valid UTF-8 (each bad byte one U+FFFD): a strict decoder
(Python protobuf) and Pyroscope (ValidateProfile: "invalid utf8 string")
refuse a profile otherwise, and an SVG with such bytes does not load."""
import glob
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import IGNIS, ROOT, load_pprof, read_folded, run_ignis

sys.path.insert(0, os.path.join(ROOT, "tests"))
from fakes.datadog import FakeDatadog  # noqa: E402
from fakes.pyroscope import FakePyroscope  # noqa: E402

RAW_NAME = b"jit_spin_\xff\xfe_bad\xc3"
CLEAN_NAME = "jit_spin_\ufffd\ufffd_bad\ufffd"

# A process that runs JIT code: an anonymous executable page holding a
# jump to itself, named in /tmp/perf-PID.map as a JIT names its code.
JIT = r"""
import ctypes, mmap, os, sys
buf = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
                prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
buf.write(b"\xeb\xfe")  # jmp .
addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
with open("/tmp/perf-%d.map" % os.getpid(), "wb") as f:
    f.write(b"%x 2 " % addr + bytes.fromhex(sys.argv[1]) + b"\n")
print("ready", flush=True)
ctypes.CFUNCTYPE(None)(addr)()
"""


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="ignis-utf8-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def jit():
    p = subprocess.Popen(["/usr/bin/python3", "-c", JIT, RAW_NAME.hex()],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "ready\n"
    yield p
    p.kill()
    p.wait()
    for f in glob.glob("/tmp/perf-%d.map" % p.pid):
        os.unlink(f)


def test_record_outputs_are_utf8(jit, tmp, pprof_pb2):
    out = os.path.join(tmp, "out")
    r = run_ignis("record", "--pid", jit.pid, "--duration", 2, "--frequency", 199,
                  "--output", out, "--top", 3)
    assert r.returncode == 0, r.stderr
    assert CLEAN_NAME in r.stdout
    # load_pprof parses with the strict decoder: the bytes as the JIT wrote
    # them would be refused (checked on a copy of the file).
    prof = load_pprof(pprof_pb2, os.path.join(out, "profile.pb.gz"))
    st = prof.string_table
    fns = {f.id: st[f.name] for f in prof.function}
    locs = {loc.id: loc for loc in prof.location}
    leaf = [fns[locs[s.location_id[0]].line[0].function_id] for s in prof.sample]
    on_jit = sum(s.value[0] for s, name in zip(prof.sample, leaf) if name == CLEAN_NAME)
    assert on_jit >= 0.9 * sum(s.value[0] for s in prof.sample), leaf
    # That decoder is strict: the name as the JIT wrote it is refused.
    with pytest.raises(Exception):
        pprof_pb2.Profile().ParseFromString(bytes([0x32, len(RAW_NAME)]) + RAW_NAME)
    folded = read_folded(os.path.join(out, "profile.folded"))
    assert any(stack[-1] == CLEAN_NAME for stack in folded), list(folded)[:3]
    with open(os.path.join(out, "flamegraph.svg"), "rb") as f:
        f.read().decode("utf-8")  # strict


def _agent(tmp, dests):
    cfg = os.path.join(tmp, "ignis.yaml")
    with open(cfg, "w") as f:
        f.write("upload_interval: 2s\nhost: test-node\nspool_dir: %s\nmetrics:\n  listen: \"\"\n"
                "destinations:\n"
                % os.path.join(tmp, "spool") + dests)
    return subprocess.Popen([IGNIS, "agent", "--config", cfg], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _functions(prof):
    st = prof.string_table
    return {st[f.name] for f in prof.function}


def test_intakes_accept_the_jit_name(jit, tmp):
    with FakePyroscope() as fp, FakeDatadog() as fd:
        agent = _agent(tmp, "  - type: pyroscope\n    url: %s\n"
                            "  - type: datadog\n    url: %s\n"
                            "    upload_interval: 2s\n" % (fp.url, fd.url))
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if any(CLEAN_NAME in _functions(r["profile"]) for r in fp.received) and \
                   any(CLEAN_NAME in _functions(r["profile"]) for r in fd.received):
                    break
                time.sleep(0.5)
        finally:
            agent.terminate()
            out = agent.communicate(timeout=30)[0]
        assert agent.returncode == 0, out[-2000:]
        assert any(CLEAN_NAME in _functions(r["profile"]) for r in fp.received), out[-2000:]
        assert any(CLEAN_NAME in _functions(r["profile"]) for r in fd.received), out[-2000:]
        assert fp.rejected == [] and fd.rejected == [], (fp.rejected, fd.rejected)
