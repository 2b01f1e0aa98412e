"""One sampling pass, several destinations: Pyroscope, Datadog and files at
once, each with its own labels, period and sampling fraction, and a Datadog
outage that costs Pyroscope nothing and Datadog nothing either (memory, then
the disk spool, then replay in order, also across a SIGKILL). Real BPF, real
workloads, the test intakes in tests/fakes/."""
import glob
import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, WORKLOADS
from test_agent import Agent, named_workload, samples_of, tmp, write_config  # noqa: F401

sys.path.insert(0, os.path.join(ROOT, "tests"))
from fakes.datadog import FakeDatadog  # noqa: E402
from fakes.pyroscope import FakePyroscope  # noqa: E402

AGENT_PATH = "/profiling/v1/input"
AGENTLESS_PATH = "/api/v2/profile"


@pytest.fixture(autouse=True)
def no_outside_env(monkeypatch):
    for var in ("DEBUGINFOD_URLS", "DD_API_KEY", "DD_SITE", "DD_AGENT_HOST",
                "DD_TRACE_AGENT_PORT", "DD_TRACE_AGENT_URL"):
        monkeypatch.delenv(var, raising=False)


def sampled(output, service):
    """What the agent logged it sampled for the series whose service_name is
    service, summed over the run: lines 'agent: interval N: k=v,...: N samples'."""
    total = 0
    for labels, n in re.findall(r"agent: interval \d+: (\S+): (\d+) samples", output):
        if ("service_name=%s" % service) in labels.split(","):
            total += int(n)
    return total


def dd_samples(profile):
    """Samples in a Datadog CPU profile: its cpu-samples/count values."""
    st = profile.string_table
    types = [(st[t.type], st[t.unit]) for t in profile.sample_type]
    assert ("cpu-samples", "count") in types, types
    assert ("cpu-time", "nanoseconds") in types, types
    i = types.index(("cpu-samples", "count"))
    j = types.index(("cpu-time", "nanoseconds"))
    assert (st[profile.period_type.type], st[profile.period_type.unit]) == \
        ("cpu-time", "nanoseconds")
    for s in profile.sample:
        assert s.value[j] == s.value[i] * profile.period
    return sum(s.value[i] for s in profile.sample)


def file_samples(pb2, directory, service):
    total = 0
    for path in glob.glob(os.path.join(directory, "*_%s_*.pb.gz" % service)):
        prof = pb2.Profile()
        with open(path, "rb") as f:
            prof.ParseFromString(gzip.decompress(f.read()))
        st = prof.string_table
        types = [(st[t.type], st[t.unit]) for t in prof.sample_type]
        i = types.index(("samples", "count"))
        total += sum(s.value[i] for s in prof.sample)
    return total


def config(tmp, pyroscope=None, datadog=None, files=None, interval=1, extra="",
           shutdown="20s"):
    dests = ""
    if pyroscope:
        dests += "  - type: pyroscope\n    url: %s\n%s" % pyroscope
    if datadog:
        dests += "  - type: datadog\n    url: %s\n%s" % datadog
    if files:
        dests += "  - type: file\n    directory: %s\n" % files
    return write_config(tmp, """
upload_interval: %ds
shutdown_timeout: %s
host: test-node
spool_dir: %s
metrics:
  listen: ""
log:
  level: debug
%s
destinations:
%s""" % (interval, shutdown, os.path.join(tmp, "spool"), extra, dests))


def spool_bytes(directory):
    return sum(os.path.getsize(p) for p in glob.glob(os.path.join(directory, "*"))
               if os.path.isfile(p))


def test_dual_write_same_samples_everywhere(tmp, pprof_pb2):
    """Pyroscope every second, Datadog every 2 s, files every second: for each
    workload the three receive the same total, which is what was sampled;
    labels follow each destination's schema and tag rules."""
    files = os.path.join(tmp, "files")
    with FakePyroscope() as fp, FakeDatadog() as fd:
        cfg = config(tmp, pyroscope=(fp.url, """    tag_rules:
      - set: {key: env, value: prod-us}
"""), datadog=(fd.url, """    upload_interval: 2s
    tag_rules:
      - set: {key: env, value: prod-us}
      - split: {source: env, separator: "-", targets: [env, region]}
"""), files=files)
        workloads = [named_workload(tmp, s) for s in ("svc-dual-a", "svc-dual-b")]
        agent = Agent(cfg)
        try:
            time.sleep(6.5)
        finally:
            rc = agent.stop()
            for w in workloads:
                w.kill()
                w.wait()
        assert rc == 0, agent.output
        assert not fp.rejected, fp.rejected[:3]
        assert not fd.rejected, fd.rejected[:3]
        for svc in ("svc-dual-a", "svc-dual-b"):
            want = sampled(agent.output, svc)
            assert want > 100, agent.output[-3000:]
            pyro = [r for r in fp.received if r["labels"]["service_name"] == svc]
            dd = [r for r in fd.received if r["tags"].get("service") == svc]
            assert sum(samples_of(r["profile"]) for r in pyro) == want
            assert sum(dd_samples(r["profile"]) for r in dd) == want
            assert file_samples(pprof_pb2, files, svc) == want
            # Datadog's longer period: fewer, longer uploads.
            assert len(dd) < len(pyro), (len(dd), len(pyro))
            for r in pyro:
                assert r["labels"]["env"] == "prod-us"
                assert r["labels"]["host"] == "test-node"
                assert "region" not in r["labels"]
            for r in dd:
                t = r["tags"]
                assert (t["env"], t["region"], t["host"]) == ("prod", "us", "test-node")
                assert t["runtime"] == "ebpf"
                assert "service_name" not in t
                assert r["event"]["family"] == "ebpf"
                assert r["attachment_compression"] == "zstd"
                assert r["headers"]["dd-evp-origin"] == "ignis"
            seqs = [int(r["tags"]["profile_seq"]) for r in fd.received]
            assert len(set(seqs)) == len(seqs)


def intervals_in_order(received):
    """The uploads, by arrival: their [start, end) must follow each other."""
    spans = [(r["start"], r["end"]) for r in received]
    for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
        assert s1 >= e0 - 0.002, "out of order or overlapping: %r then %r" % ((s0, e0), (s1, e1))
    return spans


def test_datadog_outage_costs_pyroscope_nothing_and_datadog_nothing(tmp):
    """Datadog refuses connections for 10 intervals while Pyroscope is up:
    Pyroscope gets every interval on time; Datadog, back, gets every missed
    interval once, in order, from memory and from the spool."""
    with FakePyroscope() as fp, FakeDatadog() as fd:
        fd.down()
        spool = os.path.join(tmp, "spool", "datadog")
        cfg = config(tmp, pyroscope=(fp.url, ""), datadog=(fd.url, """    upload_interval: 1s
    queue_size: 16KiB
"""))
        w = named_workload(tmp, "svc-outage")
        agent = Agent(cfg)
        try:
            time.sleep(10.5)
            on_time = len([r for r in fp.received if r["labels"]["service_name"] == "svc-outage"])
            spooled = len(glob.glob(os.path.join(spool, "*")))
            fd.up()
            fd.wait_for(12, timeout=30)
            time.sleep(2)
        finally:
            rc = agent.stop()
            w.kill()
            w.wait()
        assert rc == 0, agent.output
        # One upload per interval reached Pyroscope during the outage.
        assert on_time >= 9, on_time
        assert spooled > 0, "nothing went to the spool with a 16 KiB queue"
        assert os.stat(spool).st_mode & 0o777 == 0o700
        mine = [r for r in fd.received if r["tags"].get("service") == "svc-outage"]
        want = sampled(agent.output, "svc-outage")
        assert sum(dd_samples(r["profile"]) for r in mine) == want
        pyro = [r for r in fp.received if r["labels"]["service_name"] == "svc-outage"]
        assert sum(samples_of(r["profile"]) for r in pyro) == want
        intervals_in_order(mine)
        assert len(mine) == len(pyro), (len(mine), len(pyro))
        assert not fd.rejected
        assert re.search(r"datadog: .*spooled", agent.output)


def test_spool_survives_sigkill(tmp):
    """Profiles on the spool when the agent is killed with SIGKILL are
    delivered by the next agent, none twice."""
    with FakeDatadog() as fd:
        fd.down()
        spool = os.path.join(tmp, "spool", "datadog")
        cfg = config(tmp, datadog=(fd.url, "    upload_interval: 1s\n    queue_size: 1KiB\n"))
        w = named_workload(tmp, "svc-killed")
        agent = Agent(cfg)
        agent2 = None
        try:
            time.sleep(5.5)
            files = sorted(glob.glob(os.path.join(spool, "*")))
            agent.proc.send_signal(signal.SIGKILL)
            agent.proc.wait()
            assert len(files) >= 3, files
            fd.up()
            agent2 = Agent(cfg)
            fd.wait_for(len(files), timeout=30)
            time.sleep(1.5)
        finally:
            w.kill()
            w.wait()
            if agent.proc.poll() is None:
                agent.proc.kill()
                agent.proc.wait()
            rc = agent2.stop() if agent2 else None
        assert rc == 0, agent2.output
        mine = [r for r in fd.received if r["tags"].get("service") == "svc-killed"]
        spans = intervals_in_order(mine)
        assert len(set(spans)) == len(spans), "an interval arrived twice"
        # The first agent's intervals came first, all of them.
        agent.log.seek(0)
        first = agent.log.read()
        first_intervals = len(re.findall(r"service_name=svc-killed(?:,\S*)?: \d+ samples", first))
        assert len(mine) >= first_intervals >= 3
        assert sum(dd_samples(r["profile"]) for r in mine[:first_intervals]) == \
            sampled(first, "svc-killed")
        assert not glob.glob(os.path.join(spool, "*")), "spool not emptied"


def test_spool_byte_bound(tmp):
    """A small spool: the oldest profiles go first, counted and logged, and
    the directory never holds more than the bound."""
    bound = 48 * 1024
    with FakeDatadog() as fd:
        fd.down()
        spool = os.path.join(tmp, "spool", "datadog")
        cfg = config(tmp, datadog=(fd.url, """    upload_interval: 1s
    queue_size: 1KiB
    spool:
      max_size: %d
""" % bound), shutdown="2s")  # the intake stays down: no drain to wait for
        workloads = [named_workload(tmp, "svc-bound-%d" % i) for i in range(6)]
        agent = Agent(cfg)
        peak = 0
        try:
            end = time.time() + 12
            while time.time() < end:
                if os.path.isdir(spool):
                    peak = max(peak, spool_bytes(spool))
                time.sleep(0.05)
        finally:
            rc = agent.stop(timeout=60)
            for w in workloads:
                w.kill()
                w.wait()
        assert rc == 0, agent.output
        assert 0 < peak <= bound, peak
        assert spool_bytes(spool) <= bound
        dropped = [int(n) for n in re.findall(r"(\d+) spool full", agent.output)]
        assert dropped and dropped[-1] > 0, agent.output[-2000:]
        assert re.search(r"spool.*(oldest|dropp)", agent.output, re.I)


def test_downsampling_half(tmp):
    """sample_fraction 0.5 on Datadog: about half its samples arrive there,
    all of them at Pyroscope."""
    with FakePyroscope() as fp, FakeDatadog() as fd:
        cfg = config(tmp, pyroscope=(fp.url, ""), datadog=(fd.url, """    upload_interval: 1s
    sample_fraction: 0.5
"""))
        workloads = [named_workload(tmp, "svc-half-%d" % i) for i in range(2)]
        agent = Agent(cfg)
        try:
            time.sleep(8.5)
        finally:
            rc = agent.stop()
            for w in workloads:
                w.kill()
                w.wait()
        assert rc == 0, agent.output
        want = sum(sampled(agent.output, "svc-half-%d" % i) for i in range(2))
        pyro = sum(samples_of(r["profile"]) for r in fp.received
                   if r["labels"]["service_name"].startswith("svc-half-"))
        dd = sum(dd_samples(r["profile"]) for r in fd.received
                 if (r["tags"].get("service") or "").startswith("svc-half-"))
        assert pyro == want > 100
        # Binomial(want, 0.5): 5 standard deviations.
        sd = (want * 0.25) ** 0.5
        assert abs(dd - want / 2) < 5 * sd, (dd, want)


def test_agentless_api_key(tmp, monkeypatch):
    """Agentless: DD-API-KEY from DD_API_KEY on every upload; the key is in
    no log line and not in the spool."""
    key = "0123456789abcdef0123456789abcdef"
    monkeypatch.setenv("DD_API_KEY", key)
    with FakeDatadog(api_key=key) as fd:
        cfg = config(tmp, datadog=(fd.url, """    agentless: true
    upload_interval: 1s
"""))
        w = named_workload(tmp, "svc-agentless")
        agent = Agent(cfg)
        try:
            time.sleep(3.5)
            fd.down()
            time.sleep(2)
            fd.up()
            time.sleep(3)
        finally:
            rc = agent.stop()
            w.kill()
            w.wait()
        assert rc == 0, agent.output
        mine = [r for r in fd.received if r["tags"].get("service") == "svc-agentless"]
        assert len(mine) >= 3
        for r in mine:
            assert r["path"] == AGENTLESS_PATH
            assert r["headers"]["dd-api-key"] == key
        assert not fd.rejected, fd.rejected[:3]
        assert key not in agent.output
        for path in glob.glob(os.path.join(tmp, "spool", "**"), recursive=True):
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    assert key.encode() not in f.read()
        printed = Agent(cfg, "--print-config")
        printed.proc.wait()
        printed.stop()
        assert key not in printed.output


def test_agentless_host_and_one_value_per_unified_tag(tmp, monkeypatch):
    """Agentless uploads name the host even when a tag rule dropped it from
    the series (nobody else adds it without an Agent); DD_ENV of ignis's
    own environment is the default env; a static tag is only a default for
    service/env/version/host: the workload's own DD_ENV wins, once."""
    key = "0123456789abcdef0123456789abcdef"
    monkeypatch.setenv("DD_API_KEY", key)
    monkeypatch.setenv("DD_ENV", "staging")
    with FakeDatadog(api_key=key) as fd:
        cfg = config(tmp, datadog=(fd.url, """    agentless: true
    upload_interval: 1s
    tags: {version: "0.9", team: core}
    tag_rules:
      - drop: host
"""))
        plain = named_workload(tmp, "svc-dd-plain")
        exe = os.path.join(tmp, "svc-dd-prod")
        shutil.copy(os.path.join(WORKLOADS, "split"), exe)
        env = dict(os.environ, DD_ENV="prod", DD_VERSION="2.0")
        env.pop("DD_API_KEY")
        prod = subprocess.Popen([exe, "60"], env=env)
        agent = Agent(cfg)
        try:
            time.sleep(4)
        finally:
            rc = agent.stop()
            for w in (plain, prod):
                w.kill()
                w.wait()
        assert rc == 0, agent.output
        assert not fd.rejected, fd.rejected[:3]
        want = {"svc-dd-plain": ("staging", "0.9"), "svc-dd-prod": ("prod", "2.0")}
        for svc, (env_v, version) in want.items():
            mine = [r for r in fd.received if r["tags"].get("service") == svc]
            assert mine, sorted({r["tags"].get("service") for r in fd.received})
            for r in mine:
                keys = [t.partition(":")[0] for t in r["tag_list"]]
                for k in ("service", "env", "version", "host"):
                    assert keys.count(k) == 1, r["tag_list"]
                assert r["tags"]["host"] == "test-node"
                assert (r["tags"]["env"], r["tags"]["version"]) == (env_v, version), r["tag_list"]
                assert r["tags"]["team"] == "core"


THREADS = r"""
import os, sys, threading
def spin():
    while True:
        pass
for _ in range(2):
    threading.Thread(target=spin, daemon=True).start()
print(" ".join(sorted(os.listdir("/proc/self/task"))), flush=True)
threading.Event().wait()
"""


def test_datadog_thread_labels_as_strings_per_thread(tmp):
    """sample_labels [pid, tid, comm]: process_id, thread id and thread
    name as string labels (as Datadog's own profilers send them), one
    sample per thread: two threads of one name stay apart."""
    with FakeDatadog() as fd:
        cfg = config(tmp, datadog=(fd.url, """    upload_interval: 1s
    sample_labels: [pid, tid, comm]
"""))
        w = subprocess.Popen(["/usr/bin/python3", "-c", THREADS], stdout=subprocess.PIPE,
                             text=True)
        tids = set(w.stdout.readline().split())
        agent = Agent(cfg)
        try:
            time.sleep(4)
        finally:
            rc = agent.stop()
            w.kill()
            w.wait()
        assert rc == 0, agent.output
        assert not fd.rejected, fd.rejected[:3]
        threads = {}
        for r in fd.received:
            prof = r["profile"]
            st = prof.string_table
            for s in prof.sample:
                labels = {}
                for lb in s.label:
                    assert lb.str and not lb.num, (st[lb.key], lb.num)
                    labels[st[lb.key]] = st[lb.str]
                assert set(labels) == {"process_id", "thread id", "thread name"}, labels
                if labels["process_id"] == str(w.pid):
                    threads[labels["thread id"]] = threads.get(labels["thread id"], 0) + \
                        s.value[0]
        busy = {t for t, n in threads.items() if n >= 20}
        assert len(busy) >= 2 and busy <= tids, (threads, tids)
