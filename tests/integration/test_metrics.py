"""/metrics and /healthz of a running agent: the exposition parses as
Prometheus reads it, the counters move, and the delivery counters agree
with what the test intake received."""
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from conftest import IGNIS, ROOT

sys.path.insert(0, os.path.join(ROOT, "tests"))
from fakes.pyroscope import FakePyroscope  # noqa: E402

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(?:\{(%s(?:,%s)*)?\})? (\S+)$" % (NAME, LABEL, LABEL))
VALUE = re.compile(r"^(?:[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)|[-+]Inf|NaN)$")


def parse(text):
    """{family: {"type", "help", "samples": [(name, labels dict, value)]}},
    as strict as Prometheus's text parser on what we emit."""
    fams = {}
    current = None
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert re.fullmatch(NAME, name), line
            assert name not in fams, "family %s twice" % name
            fams[name] = {"help": line.split(" ", 3)[3] if line.count(" ") >= 3 else "",
                          "type": None, "samples": []}
            current = name
        elif line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert name == current, "TYPE %s after HELP %s" % (name, current)
            assert typ in ("counter", "gauge", "untyped")
            assert fams[name]["type"] is None
            fams[name]["type"] = typ
        elif line.startswith("#"):
            continue
        else:
            m = SAMPLE.match(line)
            assert m, "not a sample line: %r" % line
            name, labels, value = m.group(1), m.group(2), m.group(3)
            assert name == current, "%s outside its family %s" % (name, current)
            assert fams[name]["type"], "%s has no TYPE" % name
            assert VALUE.match(value), line
            lab = {}
            for k, v in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels or ""):
                assert k not in lab
                lab[k] = v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
            fams[name]["samples"].append((name, lab, float(value)))
    for name, f in fams.items():
        if f["type"] == "counter":
            assert name.endswith("_total"), name
            for s in f["samples"]:
                assert s[2] >= 0 and not math.isnan(s[2]), s
    return fams


def total(fams, name, **match):
    return sum(v for _, lab, v in fams.get(name, {"samples": []})["samples"]
               if all(lab.get(k) == w for k, w in match.items()))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="ignis-metrics-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_outside_debuginfod(monkeypatch):
    monkeypatch.delenv("DEBUGINFOD_URLS", raising=False)


def test_metrics_during_a_run(tmp):
    port = free_port()
    busy = subprocess.Popen(["sh", "-c", "while :; do :; done"])
    with FakePyroscope() as fp:
        cfg = os.path.join(tmp, "ignis.yaml")
        with open(cfg, "w") as f:
            f.write("""
upload_interval: 2s
metrics:
  listen: "127.0.0.1:%d"
destinations:
  - name: py
    type: pyroscope
    url: %s
""" % (port, fp.url))
        log = tempfile.TemporaryFile(mode="w+")
        agent = subprocess.Popen([IGNIS, "agent", "--config", cfg], stdout=log,
                                 stderr=subprocess.STDOUT, text=True)
        base = "http://127.0.0.1:%d" % port
        try:
            assert fp.wait_for(1, timeout=30), "nothing delivered"
            status, ctype, body = get(base + "/metrics")
            assert status == 200
            assert ctype.startswith("text/plain; version=0.0.4")
            first = parse(body)
            for fam in ("ignis_samples_total", "ignis_destination_profiles_total",
                        "process_cpu_seconds_total", "process_resident_memory_bytes",
                        "process_start_time_seconds", "process_open_fds", "ignis_build_info"):
                assert fam in first, fam
            assert first["ignis_samples_total"]["type"] == "counter"
            assert {lab.get("cpu") for _, lab, _ in first["ignis_samples_total"]["samples"]}
            assert total(first, "process_resident_memory_bytes") > 1 << 20
            assert total(first, "ignis_build_info") == 1

            # Counters move. One interval can bring several requests (one per
            # series), so wait for a later interval, not for a request count.
            n = len(fp.received)
            time.sleep(2.5)
            assert fp.wait_for(n + 1, timeout=30)
            second = parse(get(base + "/metrics")[2])
            assert total(second, "ignis_samples_total") > total(first, "ignis_samples_total")
            assert total(second, "process_cpu_seconds_total") >= \
                total(first, "process_cpu_seconds_total")
            # The default unwinds in the kernel: the busy shell's stacks
            # are walked from tables held within the budget, and no stack
            # byte reaches the agent.
            assert total(second, "ignis_unwind_total", outcome="tables_complete") > 0
            assert total(second, "ignis_unwind_tables_loaded") >= 1
            assert 0 < total(second, "ignis_unwind_table_memory_bytes") <= \
                total(second, "ignis_unwind_table_memory_budget_bytes") == 32 << 20
            assert total(second, "ignis_unwind_mapping_entries") > 0
            assert total(second, "ignis_sample_bytes_total") > 0
            assert total(second, "ignis_sample_stack_bytes_total") == 0

            # Delivery counters agree with the intake: scrape between two
            # uploads (nothing arrived while the scrape ran), after the
            # agent has read the last answer.
            for _ in range(20):
                before = len(fp.received)
                time.sleep(0.5)
                fams = parse(get(base + "/metrics")[2])
                if len(fp.received) == before:
                    break
            else:
                pytest.fail("never a quiet moment between uploads")
            sent = total(fams, "ignis_destination_profiles_total", destination="py",
                         outcome="sent")
            assert sent == len(fp.received), (sent, len(fp.received))
            assert total(fams, "ignis_destination_bytes_sent_total", destination="py") > 0

            status, _, body = get(base + "/healthz")
            assert (status, body) == (200, "ok\n")
            assert get(base + "/nope")[0] == 404
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(30)
            busy.kill()
            busy.wait()
        log.seek(0)
        assert agent.returncode == 0, log.read()[-3000:]


def test_metrics_port_in_use(tmp):
    """A taken port is a startup error that names the address, not a
    silently missing endpoint."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        cfg = os.path.join(tmp, "ignis.yaml")
        with open(cfg, "w") as f:
            f.write("""
metrics:
  listen: "127.0.0.1:%d"
destinations:
  - name: files
    type: file
    directory: %s/out
""" % (port, tmp))
        r = subprocess.run([IGNIS, "agent", "--config", cfg], capture_output=True, text=True,
                           timeout=60)
        assert r.returncode != 0
        assert "127.0.0.1:%d" % port in r.stderr
        assert "Address already in use" in r.stderr
    finally:
        s.close()
