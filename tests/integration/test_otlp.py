"""The otlp destination against the test OTLP receiver (tests/fakes/otlp.py),
with real BPF and real workloads: every interval arrives, decodes with the
official protos and passes the field-by-field checks, and carries the same
samples as a file destination fed in the same run; a receiver that is down
costs nothing (memory, then the spool, replayed in order); the answers are
read as OTLP/HTTP says (retryable statuses, partial success)."""
import glob
import os
import re
import sys
import time

from conftest import ROOT
from test_agent import Agent, named_workload, tmp, write_config  # noqa: F401
from test_dualwrite import file_samples, intervals_in_order, sampled

sys.path.insert(0, os.path.join(ROOT, "tests"))
from fakes.otlp import FakeOTLP  # noqa: E402


def config(tmp, otlp_url, files=None, extra="", dest_extra=""):
    dests = "  - type: otlp\n    endpoint: %s\n%s" % (otlp_url, dest_extra)
    if files:
        dests += "  - type: file\n    directory: %s\n" % files
    return write_config(tmp, """
upload_interval: 1s
shutdown_timeout: 20s
host: test-node
spool_dir: %s
metrics:
  listen: "off"
log:
  level: debug
%s
destinations:
%s""" % (os.path.join(tmp, "spool"), extra, dests))


def profiles_of(received, service):
    return [(r, p) for r in received for p in r["profiles"]
            if p["resource"].get("service.name") == service]


def test_otlp_every_interval_same_totals_as_files(tmp, pprof_pb2):
    """Two workloads, OTLP and files in the same run: one request per
    interval, each decoding and valid, the per-service totals equal to the
    files' and to what the agent sampled; resource attributes, scope, sample
    and period types and stacks as the semantic conventions say."""
    files = os.path.join(tmp, "files")
    with FakeOTLP() as fo:
        cfg = config(tmp, fo.url, files=files, dest_extra="""    sample_labels: [pid, comm, tid]
    tag_rules:
      - set: {key: deployment.environment.name, value: prod}
""")
        workloads = [named_workload(tmp, s) for s in ("svc-otlp-a", "svc-otlp-b")]
        agent = Agent(cfg)
        try:
            time.sleep(6.5)
        finally:
            rc = agent.stop()
            for w in workloads:
                w.kill()
                w.wait()
        assert rc == 0, agent.output
        assert not fo.rejected, fo.rejected[:3]
        # every interval with samples is one request (every series in it)
        intervals = set(re.findall(r"agent: interval (\d+): \S+: \d+ samples", agent.output))
        assert len(intervals) >= 3, agent.output[-2000:]
        assert len(fo.received) == len(intervals), (len(fo.received), sorted(intervals))
        for r in fo.received:
            assert r["path"] == "/v1development/profiles"
            assert r["headers"]["content-type"] == "application/x-protobuf"
            assert r["headers"]["content-encoding"] == "gzip"
        spans = [(p["time"], p["time"] + p["duration"]) for r in fo.received
                 for p in r["profiles"][:1]]
        intervals_in_order([{"start": s, "end": e} for s, e in spans])
        for svc, w in zip(("svc-otlp-a", "svc-otlp-b"), workloads):
            want = sampled(agent.output, svc)
            assert want > 20, agent.output[-3000:]
            mine = profiles_of(fo.received, svc)
            assert sum(p["total"] for _, p in mine) == want
            assert file_samples(pprof_pb2, files, svc) == want
            for _, p in mine:
                res = p["resource"]
                assert res["host.name"] == "test-node"
                assert res["deployment.environment.name"] == "prod"
                assert "service_name" not in res and "host" not in res
                assert p["scope"][0] == "ignis"
                assert p["sample_type"] == ("samples", "count")
                assert p["period_type"] == ("cpu", "nanoseconds")
                assert p["period"] > 0
                assert len(p["profile_id"]) == 32
                for s in p["samples"]:
                    assert s["attrs"]["process.pid"] == w.pid
                    assert s["attrs"]["thread.id"] == w.pid   # one thread
                    assert s["attrs"]["thread.name"] == svc[:15]
                    assert s["link"] is None
            # kernel frames say so (profile.frame.type), no others do
            for _, p in mine:
                for s in p["samples"]:
                    for file, _, _, _, lattrs in s["locations"]:
                        want_type = {"profile.frame.type": "kernel"} \
                            if file == "[kernel.kallsyms]" else {}
                        assert lattrs == want_type, (file, lattrs)
            # the workload's hot path, leaf first
            stacks = [s["stack"] for _, p in mine for s in p["samples"]]
            hot = [st for st in stacks if st and st[0] in ("leaf_a", "leaf_b")]
            assert sum(1 for st in hot if st[1:3] == ["parent", "run"]) > 0, stacks[:5]


def test_otlp_receiver_down_spools_and_replays_in_order(tmp):
    """The receiver refuses connections until intervals overflow a 16 KiB
    queue into the spool; back up, every interval arrives once, in
    order, and the totals equal what was sampled."""
    with FakeOTLP() as fo:
        fo.down()
        down_at = time.time()
        spool = os.path.join(tmp, "spool", "otlp")
        cfg = config(tmp, fo.url, dest_extra="    queue_size: 16KiB\n")
        w = named_workload(tmp, "svc-otlp-down")
        agent = Agent(cfg)
        try:
            # One workload's interval is about 1 KiB: the 16 KiB queue
            # overflows to the spool after some 15 intervals.
            deadline = time.time() + 60
            spooled = 0
            while not spooled and time.time() < deadline:
                time.sleep(0.5)
                spooled = len(glob.glob(os.path.join(spool, "*")))
            fo.up()
            # The retry after the outage waits out a backoff that doubled
            # through it: up to about as long as the outage lasted.
            assert fo.wait_for(8, timeout=30 + (time.time() - down_at))
            time.sleep(2)
        finally:
            rc = agent.stop()
            w.kill()
            w.wait()
        assert rc == 0, agent.output
        assert spooled > 0, "nothing went to the spool with a 16 KiB queue"
        assert not fo.rejected, fo.rejected[:3]
        mine = profiles_of(fo.received, "svc-otlp-down")
        spans = intervals_in_order([{"start": p["time"], "end": p["time"] + p["duration"]}
                                    for _, p in mine])
        assert len(set(spans)) == len(spans), "an interval arrived twice"
        assert sum(p["total"] for _, p in mine) == sampled(agent.output, "svc-otlp-down")
        assert re.search(r"otlp: .*spooled", agent.output)
        assert not glob.glob(os.path.join(spool, "*")), "spool not emptied"


def test_otlp_status_rules_and_partial_success(tmp):
    """503 with Retry-After is retried (the interval arrives once), 500 and
    400 are final (dropped, said why), a partial_success is logged, counted
    and not retried."""
    with FakeOTLP() as fo:
        fo.fail_next(2, 503, retry_after=1, message="overloaded")
        cfg = config(tmp, fo.url, dest_extra="    compression: none\n")
        w = named_workload(tmp, "svc-otlp-status")
        agent = Agent(cfg)
        try:
            assert fo.wait_for(1, timeout=15)
            fo.fail_next(1, 500, message="receiver bug")
            time.sleep(1.5)
            fo.partial_next(1, 1, "one profile refused: bad attribute")
            time.sleep(3)
        finally:
            rc = agent.stop()
            w.kill()
            w.wait()
        assert rc == 0, agent.output
        statuses = [r["status"] for r in fo.requests]
        assert statuses[:3] == [503, 503, 200], statuses
        assert statuses.count(500) == 1
        # the 500 was not tried again: the interval after it is the next one
        i = statuses.index(500)
        assert statuses[i + 1] == 200
        assert "HTTP 500: receiver bug" in agent.output
        assert "HTTP 503: overloaded" in agent.output
        assert re.search(r"otlp: otlp: .*partial success: 1 profiles rejected: one profile "
                         r"refused: bad attribute \(not retried\)", agent.output)
        assert len(fo.requests) == len(fo.received) + 3
        # counted, in the agent's per-destination line (and on /metrics)
        assert re.search(r"agent: otlp: 1 rejected in partial successes, \d+ sent",
                         agent.output), agent.output[-2000:]
        for r in fo.received:
            assert "content-encoding" not in r["headers"]


def test_otlp_check_and_secret_headers(tmp, monkeypatch):
    """`ignis check` finds the receiver (405 to a GET: reachable) and says
    when nothing serves profiles at the path (404); extra headers, secrets
    from ${VAR}, reach the receiver but never the spool."""
    import subprocess
    from conftest import IGNIS
    secret = "otlp-t0ken-never-on-disk"
    monkeypatch.setenv("OTLP_TEST_TOKEN", secret)
    with FakeOTLP() as fo:
        cfg = config(tmp, fo.url, dest_extra="""    headers:
      Authorization: "Bearer ${OTLP_TEST_TOKEN}"
    queue_size: 1KiB
""" + """  - name: wrong-path
    type: otlp
    endpoint: %s
    path: /v1/nothing
""" % fo.url)
        r = subprocess.run([IGNIS, "check", "--config", cfg], capture_output=True, text=True,
                           timeout=120)
        lines = r.stdout.splitlines()
        assert any(x.startswith("OK   destination otlp: GET %s/v1development/profiles: 405"
                                % fo.url) for x in lines), r.stdout
        assert any(x.startswith("WARN destination wrong-path: GET %s/v1/nothing: 404"
                                % fo.url) for x in lines), r.stdout
        assert secret not in r.stdout + r.stderr
        fo.down()
        spool = os.path.join(tmp, "spool", "otlp")
        w = named_workload(tmp, "svc-otlp-secret")
        agent = Agent(cfg)
        try:
            end = time.time() + 20
            files = []
            while not files and time.time() < end:
                time.sleep(0.5)
                files = glob.glob(os.path.join(spool, "*"))
            assert files, "nothing spooled with a 1 KiB queue"
            time.sleep(1)
            files = glob.glob(os.path.join(spool, "*"))
            for path in files:
                # a 24-byte header, then one zstd frame (exporters/spool.h)
                with open(path, "rb") as f:
                    raw = subprocess.run(["zstd", "-d", "-c", "-q"], input=f.read()[24:],
                                         capture_output=True, check=True).stdout
                assert b"Content-Type: application/x-protobuf" in raw
                assert b"/v1development/profiles" in raw
                assert secret.encode() not in raw and b"Authorization" not in raw
            fo.up()
            assert fo.wait_for(4, timeout=30)
        finally:
            rc = agent.stop()
            w.kill()
            w.wait()
        assert rc == 0, agent.output
        assert secret not in agent.output
        mine = [r for r in fo.received if r["path"] == "/v1development/profiles"]
        assert mine
        for r in mine:
            assert r["headers"]["authorization"] == "Bearer " + secret
