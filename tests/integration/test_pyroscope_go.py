"""What Pyroscope's FixGoProfile does to ignis's deep Go stacks. The server
takes a profile for Go when a string of it ends in ".go" (and no
pyroscope_spy names another language), and with a "cpu" sample type and a
stack of 60+ locations it appends root-side locations from other stacks to
every stack it takes for cut. The test intake does the same
(tests/fakes/pyroscope.py fix_go_profile): ignis's stacks must come out as
they were sent. They do because each ends at its real root
(runtime.goexit), which never appears inside another stack, or, past the
walker's 256 frames, at a [truncated] frame, which never does either; a
cut stack without that frame would be grafted or not depending on the
order of location ids (the repair sorts stacks by their ids' bytes)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import ROOT, go_cache
from test_agent import Agent, pyroscope_config

sys.path.insert(0, os.path.join(ROOT, "tests"))
from fakes.pyroscope import FakePyroscope  # noqa: E402


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="ignis-gofix-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def go_deep():
    d = tempfile.mkdtemp(prefix="ignis-go-deep-")
    go = shutil.which("go") or "/usr/lib/go/bin/go"
    assert os.path.exists(go), "go is needed by this test (scripts/deps.sh installs it)"
    env = dict(os.environ, GO111MODULE="off", GOCACHE=go_cache(d),
               GOPATH=os.path.join(d, "gopath"), CGO_ENABLED="0")
    shutil.copy(os.path.join(ROOT, "tests", "workloads", "go_deep.go"), d)
    exe = os.path.join(d, "svc-go-deep")
    subprocess.run([go, "build", "-o", exe, "go_deep.go"], check=True, cwd=d, env=env)
    yield exe
    shutil.rmtree(d, ignore_errors=True)


def roots_and_depths(prof):
    st = prof.string_table
    fn = {f.id: st[f.name] for f in prof.function}
    loc = {l.id: [fn[x.function_id] for x in l.line] for l in prof.location}
    return [(loc[s.location_id[-1]][-1], len(s.location_id)) for s in prof.sample]


def test_deep_go_stacks_kept_intact(tmp, go_deep):
    with FakePyroscope() as fp:
        cfg = pyroscope_config(tmp, fp.url)
        w = subprocess.Popen([go_deep, "60"])
        agent = Agent(cfg)
        try:
            time.sleep(7)
        finally:
            rc = agent.stop()
            w.kill()
            w.wait()
        assert rc == 0, agent.output[-2000:]
        mine = [r for r in fp.received if r["labels"]["service_name"] == "svc-go-deep"]
        assert len(mine) >= 2, sorted({r["labels"]["service_name"] for r in fp.received})
        seen = set()
        for r in mine:
            assert r["language"] == "go"
            # The server's repair ran (stacks of 60+ locations) and changed
            # nothing: every stack ends at its real root, or at the
            # [truncated] frame past the walker's 256 frames.
            assert r["repaired_stacks"] == 0, r["repaired_stacks"]
            for root, depth in roots_and_depths(r["profile"]):
                if depth >= 60:
                    assert root in ("runtime.goexit.abi0", "runtime.goexit", "[truncated]"), \
                        (root, depth)
                    seen.add((root == "[truncated]", depth))
        assert any(t for t, _ in seen) and any(not t and d >= 60 for t, d in seen), seen
