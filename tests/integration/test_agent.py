"""`ignis agent` end to end: real BPF, real workloads, the test Pyroscope
intake (tests/fakes/pyroscope.py, as strict as the real server) and the file
destination."""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import IGNIS, ROOT, WORKLOADS

sys.path.insert(0, os.path.join(ROOT, "tests"))
from fakes.pyroscope import FakePyroscope  # noqa: E402

INTERVAL = 2


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="ignis-agent-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_outside_debuginfod(monkeypatch):
    monkeypatch.delenv("DEBUGINFOD_URLS", raising=False)


def named_workload(tmp, name, seconds=60):
    """The split workload under another name: its own service_name."""
    exe = os.path.join(tmp, name)
    shutil.copy(os.path.join(WORKLOADS, "split"), exe)
    p = subprocess.Popen([exe, str(seconds)])
    time.sleep(0.2)
    assert p.poll() is None
    return p


def write_config(tmp, text):
    path = os.path.join(tmp, "ignis.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


class Agent:
    def __init__(self, config, *args):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([IGNIS, "agent", "--config", config] + list(args),
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        self.log.seek(0)
        self.output = self.log.read()
        return self.proc.returncode


def run_agent(tmp, config, services, seconds):
    """Starts the named workloads and the agent, lets them run, stops both;
    the agent's exit status must be 0. Returns the stopped agent."""
    workloads = [named_workload(tmp, svc) for svc in services]
    agent = Agent(config)
    try:
        time.sleep(seconds)
    finally:
        rc = agent.stop()
        for w in workloads:
            w.kill()
            w.wait()
    assert rc == 0, agent.output
    return agent


def pyroscope_config(tmp, url, extra="", dest_extra="", interval=INTERVAL):
    # A spool of the test's own (the default directory is the machine's,
    # where another run's leftovers, requests to fakes long gone, would be
    # sent first), and no metrics port (another agent may hold the default).
    return write_config(tmp, """
upload_interval: %ds
host: test-node
spool_dir: %s
metrics:
  listen: ""
log:
  level: debug
%s
destinations:
  - type: pyroscope
    url: %s
%s
""" % (interval, os.path.join(tmp, "spool"), extra, url, dest_extra))


def samples_of(profile):
    """CPU samples in a Pyroscope profile: cpu/nanoseconds values / period."""
    st = profile.string_table
    types = [(st[t.type], st[t.unit]) for t in profile.sample_type]
    assert ("cpu", "nanoseconds") in types, types
    i = types.index(("cpu", "nanoseconds"))
    assert profile.period > 0
    return sum(s.value[i] for s in profile.sample) // profile.period


def functions_of(profile):
    st = profile.string_table
    return {st[f.name] for f in profile.function}


def reported_samples(output, service):
    """What the agent logged it sampled for a series, over the run."""
    return sum(int(m) for m in re.findall(
        r"service_name=%s: (\d+) samples" % re.escape(service), output))


def test_agent_series_per_workload(tmp):
    with FakePyroscope() as fp:
        agent = run_agent(tmp, pyroscope_config(tmp, fp.url), ["svc-alpha", "svc-beta"],
                          3 * INTERVAL + 1)
        got = {}
        for r in fp.received:
            labels = r["labels"]
            assert labels["__name__"] == "process_cpu"
            assert labels["host"] == "test-node"
            assert not any(k.startswith("__") and k != "__name__" for k in labels)
            got.setdefault(labels["service_name"], []).append(r)
        for svc in ("svc-alpha", "svc-beta"):
            assert svc in got, sorted(got)
            # One series per interval, at least three intervals plus the last.
            assert len(got[svc]) >= 3, len(got[svc])
            for r in got[svc]:
                fns = functions_of(r["profile"])
                assert {"leaf_a", "leaf_b", "parent", "main"} <= fns, fns
                # Per-sample labels stay off for Pyroscope (they would be series).
                assert not r["profile"].sample[0].label
            total = sum(samples_of(r["profile"]) for r in got[svc])
            assert total == reported_samples(agent.output, svc) > 0, agent.output[-2000:]
        times = sorted(r["profile"].time_nanos for r in got["svc-alpha"])
        assert len(set(times)) == len(times), "an interval arrived twice"


def test_agent_retries_5xx_and_delivers_each_interval_once(tmp):
    with FakePyroscope() as fp:
        fp.fail_next(3, 503)
        agent = run_agent(tmp, pyroscope_config(tmp, fp.url), ["svc-retry"], 4 * INTERVAL + 2)
        mine = [r for r in fp.received if r["labels"]["service_name"] == "svc-retry"]
        times = [r["profile"].time_nanos for r in mine]
        assert len(times) >= 3
        assert len(set(times)) == len(times), "an interval arrived twice"
        assert times == sorted(times), "intervals out of order"
        assert reported_samples(agent.output, "svc-retry") == \
            sum(samples_of(r["profile"]) for r in mine)
        assert [s for s, _ in fp.rejected[:3]] == [503, 503, 503]


def test_agent_honours_retry_after(tmp):
    with FakePyroscope() as fp:
        fp.fail_next(1, 429, retry_after=2)
        run_agent(tmp, pyroscope_config(tmp, fp.url), ["svc-slow"], 2 * INTERVAL + 4)
        assert fp.rejected and fp.rejected[0][0] == 429
        first_ok = min(r["time"] for r in fp.received)
        assert first_ok - fp.rejected_times[0] >= 2.0, (first_ok, fp.rejected_times[0])


def test_agent_drops_on_400_and_says_why(tmp):
    with FakePyroscope() as fp:
        fp.fail_next(1, 400, message="invalid metric name")
        agent = run_agent(tmp, pyroscope_config(tmp, fp.url), ["svc-bad"], 2 * INTERVAL + 1)
        assert "invalid metric name" in agent.output, agent.output[-3000:]
        assert re.search(r"dropped", agent.output)


@pytest.mark.parametrize("api", ["push", "ingest"])
def test_agent_series_limit_not_retried(tmp, api):
    """Past the tenant's active-series limit Pyroscope answers 429 for each
    new series: ignis drops those requests at once (a retry meets the same
    limit and would hold up every interval behind it), counts them, and
    says once what to change; the series that fit keep arriving."""
    with FakePyroscope(series_limit=2) as fp:
        config = pyroscope_config(tmp, fp.url, dest_extra="    api: %s" % api)
        agent = run_agent(tmp, config, ["svc-limit-a", "svc-limit-b", "svc-limit-c"],
                          3 * INTERVAL + 1)
        refused = [m for st, m in fp.rejected if st == 429]
        assert refused and all("Maximum active series limit exceeded (2/2)" in m
                               for m in refused), fp.rejected[:3]
        assert len(refused) == len(fp.rejected)
        # Two label sets fit (one sample type each: cpu); the machine's
        # other processes compete for them, ours that got in keep coming.
        accepted = {r["labels"]["service_name"] for r in fp.received}
        assert len(accepted) == 2, accepted
        for svc in accepted & {"svc-limit-a", "svc-limit-b", "svc-limit-c"}:
            assert len([r for r in fp.received if r["labels"]["service_name"] == svc]) >= 2
        warned = re.findall(r"dropped, not retried \(retrying cannot help\): (.*)", agent.output)
        assert len(warned) == 1, agent.output[-3000:]
        assert "max_global_series_per_tenant" in warned[0]
        last = re.findall(r"(\d+) retried, .*?/(\d+) refused/", agent.output)[-1]
        assert last[0] == "0" and int(last[1]) == len(refused), (last, len(refused))


def test_agent_legacy_ingest(tmp):
    with FakePyroscope() as fp:
        config = pyroscope_config(tmp, fp.url, dest_extra="    api: ingest")
        run_agent(tmp, config, ["svc-ingest"], 2 * INTERVAL + 1)
        mine = [r for r in fp.received if r["path"] == "/ingest" and
                r["labels"].get("service_name") == "svc-ingest"]
        assert mine, [r["path"] for r in fp.received][:5]
        assert {"leaf_a", "leaf_b"} <= functions_of(mine[0]["profile"])


def test_agent_file_destination(tmp):
    out = os.path.join(tmp, "profiles")
    config = write_config(tmp, """
upload_interval: %ds
host: test-node
destinations:
  - type: file
    directory: %s
""" % (INTERVAL, out))
    run_agent(tmp, config, ["svc-files"], 3 * INTERVAL + 1)
    files = sorted(glob.glob(os.path.join(out, "*svc-files*.pb.gz")))
    assert len(files) >= 3, os.listdir(out)
    env = dict(os.environ, HOME=tmp, GOCACHE=os.path.join(tmp, "gocache"))
    top = subprocess.run(["go", "tool", "pprof", "-top", files[-1]], capture_output=True,
                         text=True, env=env, timeout=120)
    assert top.returncode == 0, top.stderr
    assert "leaf_a" in top.stdout and "leaf_b" in top.stdout, top.stdout


@pytest.mark.parametrize("text,message", [
    ("destinations:\n  - type: pyroscope\n    urll: http://x\n", r":3: destinations\[0\]\.urll"),
    ("upload_interval: soon\ndestinations:\n  - type: file\n    directory: /tmp/x\n",
     r":1: upload_interval"),
    ("destinations:\n  - type: pyroscope\n", r"destinations\[0\].*url"),
    ("destinations:\n  - type: pyroscope\n    url: http://127.0.0.1:1\n    basic_auth:\n"
     "      username: u\n      password_file: /nonexistent/secret\n",
     r"password_file.*/nonexistent/secret"),
])
def test_agent_bad_config_exits_2(tmp, text, message):
    config = write_config(tmp, text)
    r = subprocess.run([IGNIS, "agent", "--config", config], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert re.search(re.escape(config) + ".*" + message, r.stderr) or \
        re.search(message, r.stderr), r.stderr


def test_agent_splits_profiles_over_the_server_limits(tmp):
    """At 9999 Hz a nop sled gives one interval ~20,000 distinct stacks:
    more than the 16,000 samples a Pyroscope profile may hold. Every sample
    must still arrive, in profiles the intake accepts."""
    with FakePyroscope(rate_limit=False) as fp:
        exe = os.path.join(tmp, "svc-wide")
        shutil.copy(os.path.join(WORKLOADS, "wide"), exe)
        w = subprocess.Popen([exe, "60"])
        config = pyroscope_config(tmp, fp.url, extra="sampling:\n  frequency: 9999\n"
                                  "  unwind: fp\n", interval=3)
        agent = Agent(config)
        try:
            time.sleep(7)
        finally:
            rc = agent.stop()
            w.kill()
            w.wait()
        assert rc == 0, agent.output
        assert not fp.rejected, fp.rejected[:3]
        mine = [r for r in fp.received if r["labels"]["service_name"] == "svc-wide"]
        by_interval = {}
        for r in mine:
            assert len(r["profile"].sample) <= 16000
            by_interval.setdefault(r["profile"].time_nanos, []).append(r)
        assert max(len(v) for v in by_interval.values()) >= 2, \
            {k: [len(r["profile"].sample) for r in v] for k, v in by_interval.items()}
        total = sum(samples_of(r["profile"]) for r in mine)
        assert total == reported_samples(agent.output, "svc-wide") > 16000


def test_agent_samples_only_the_configured_cpus(tmp):
    """sampling.cpus "0": a workload pinned to CPU 0 is profiled, one pinned
    to CPU 1 is not."""
    with FakePyroscope() as fp:
        pinned = []
        for cpu, name in ((0, "svc-cpu0"), (1, "svc-cpu1")):
            exe = os.path.join(tmp, name)
            shutil.copy(os.path.join(WORKLOADS, "split"), exe)
            pinned.append(subprocess.Popen(["taskset", "-c", str(cpu), exe, "60"]))
        config = pyroscope_config(tmp, fp.url, extra='sampling:\n  cpus: "0"\n')
        try:
            agent = run_agent(tmp, config, [], 2 * INTERVAL + 1)
        finally:
            for p in pinned:
                p.kill()
                p.wait()
        assert "sampling 1 CPU at" in agent.output, agent.output[:2000]
        services = {r["labels"]["service_name"] for r in fp.received}
        assert "svc-cpu0" in services, services
        assert "svc-cpu1" not in services, services
