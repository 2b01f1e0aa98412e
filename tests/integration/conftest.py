"""Shared fixtures for the integration tests: they run the real ignis binary
as root against real BPF, on workloads with known profiles."""
import gzip
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IGNIS = os.environ.get("IGNIS", os.path.join(ROOT, "build", "ignis"))
WORKLOADS = os.environ.get("WORKLOADS", os.path.join(ROOT, "build", "workloads"))


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests load BPF programs: run as root")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def pprof_pb2():
    """profile_pb2 generated from the project's own proto/profile.proto."""
    out = tempfile.mkdtemp(prefix="ignis-pb2-")
    subprocess.run(["protoc", "--python_out=" + out, "-I", os.path.join(ROOT, "proto"),
                    "profile.proto"], check=True)
    sys.path.insert(0, out)
    try:
        yield importlib.import_module("profile_pb2")
    finally:
        sys.path.remove(out)


def load_pprof(pb2, path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:2] == b"\x1f\x8b", "profile.pb.gz must be gzip-compressed"
    prof = pb2.Profile()
    prof.ParseFromString(gzip.decompress(data))
    return prof


def read_folded(path):
    """{stack tuple (root first, comm first): count}"""
    stacks = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            stack, _, count = line.rpartition(" ")
            assert stack, "folded line without a stack: %r" % line
            key = tuple(stack.split(";"))
            stacks[key] = stacks.get(key, 0) + int(count)
    return stacks


class Workload:
    def __init__(self, name, *args):
        self.proc = subprocess.Popen([os.path.join(WORKLOADS, name)] + [str(a) for a in args])
        self.pid = self.proc.pid
        time.sleep(0.3)  # let it get past the loader and into its hot loop
        assert self.proc.poll() is None, "workload %s exited early" % name

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def workload():
    started = []

    def start(name, *args):
        w = Workload(name, *args)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def go_cache(d):
    """Go's build cache: the one `make test` shares between tests
    (IGNIS_TEST_GOCACHE, under build/), else one of d's own."""
    return os.environ.get("IGNIS_TEST_GOCACHE") or os.path.join(d, "cache")


# The Go toolchains scripts/deps.sh installs: Debian's golang-go (1.19) and
# golang-1.21-go, golang-1.23-go from bookworm-backports.
GO_VERSIONS = ("1.19", "1.21", "1.23")


def go_tool(version):
    """The go command of a Go version; a test of a version this machine
    lacks is skipped, saying which."""
    path = "/usr/lib/go-%s/bin/go" % version
    if not os.access(path, os.X_OK):
        pytest.skip("Go %s missing: %s (scripts/deps.sh installs golang-%s-go)"
                    % (version, path, version))
    return path


def go_build(version, src, exe, *flags):
    """Builds the one-file program src into exe with Go `version` (GOPATH
    mode, no cgo, this toolchain only, the shared build cache)."""
    d = os.path.dirname(exe)
    shutil.copy(src, d)
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="", CGO_ENABLED="0", GOTOOLCHAIN="local",
               GOCACHE=go_cache(d), GOPATH=os.path.join(d, "gopath"))
    subprocess.run([go_tool(version), "build", *flags, "-o", exe, os.path.basename(src)],
                   cwd=d, env=env, check=True)
    return exe


def run_ignis(*args, timeout=120, **kw):
    return subprocess.run([IGNIS] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, **kw)
