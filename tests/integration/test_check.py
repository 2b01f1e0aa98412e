"""`ignis check`: the preflight on this machine, with capabilities dropped,
and against configured destinations and a Kubernetes API on 127.0.0.1."""
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import IGNIS, ROOT

sys.path.insert(0, os.path.join(ROOT, "tests"))
from fakes.pyroscope import FakePyroscope  # noqa: E402

SECRET = "s3cr3t-t0ken-that-must-never-be-printed"


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="ignis-check-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for k in ("DEBUGINFOD_URLS", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT",
              "DD_API_KEY", "DD_AGENT_HOST", "DD_TRACE_AGENT_URL", "DD_SITE"):
        monkeypatch.delenv(k, raising=False)


def check(*args, env=None, prefix=()):
    return subprocess.run(list(prefix) + [IGNIS, "check"] + list(args), capture_output=True,
                          text=True, timeout=120, env=env)


def checks(out):
    doc = json.loads(out)
    assert set(doc) == {"ok", "checks"}
    for c in doc["checks"]:
        assert set(c) == {"name", "status", "detail", "fix"}
        assert c["status"] in ("ok", "warn", "fail")
        assert c["detail"]
        if c["status"] == "fail":
            assert c["fix"], "a failure must say how to fix it: %r" % c
    return doc, {c["name"]: c for c in doc["checks"]}


def write_config(tmp, text):
    path = os.path.join(tmp, "ignis.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_all_ok_as_root():
    r = check()
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    for line in lines:
        assert line[:5] in ("OK   ", "WARN ", "FAIL "), line
    assert not [x for x in lines if x.startswith("FAIL")]
    # The real test ran: the sampler's programs loaded and attached.
    assert any(x.startswith("OK   bpf-load: ") for x in lines), r.stdout

    r = check("--output", "json")
    assert r.returncode == 0
    doc, by = checks(r.stdout)
    assert doc["ok"] is True
    for name in ("kernel", "btf", "capabilities", "perf_event_paranoid", "lockdown", "memlock",
                 "bpf-load", "cgroup", "host-pid"):
        assert name in by, name
    for name in ("kernel", "btf", "bpf-load", "host-pid"):
        assert by[name]["status"] == "ok", by[name]
    # The unwind-table walker was loaded and ran, and the mode is named.
    assert by["unwind"]["status"] == "ok", by["unwind"]
    assert by["unwind"]["detail"].startswith("mode kernel: the unwind-table walker loads and ran"), \
        by["unwind"]
    m = re.search(r"\((\d+) samples, (\d+) user frames\)", by["unwind"]["detail"])
    # Nearly every sample has user frames (one that lands while the probe's
    # thread is between user and kernel mode may have none).
    assert m and int(m.group(1)) > 0 and int(m.group(2)) >= 0.8 * int(m.group(1)), by["unwind"]
    # Off-CPU's programs were loaded and attached where the kernel has its
    # hook (sched_exit_tp, Linux 6.16); a warning, not a failure, where not.
    off = by["off-cpu"]
    kernel = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups())
    if kernel >= (6, 16):
        assert off["status"] == "ok", off
        assert off["detail"].endswith("; sampling.off_cpu is off"), off
        # One program a switch, at the end of __schedule (bpf/offcpu.bpf.h).
        assert "(sched_exit_tp alone, one a switch)" in off["detail"], off
    else:
        assert off["status"] == "warn" and "sched_exit_tp" in off["detail"], off


def test_dropped_capabilities_named():
    r = subprocess.run(["capsh", "--drop=cap_bpf,cap_perfmon,cap_sys_admin", "--", "-c",
                        IGNIS + " check --output json"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    doc, by = checks(r.stdout)
    assert doc["ok"] is False
    caps = by["capabilities"]
    assert caps["status"] == "fail"
    assert "CAP_BPF" in caps["detail"] and "CAP_PERFMON" in caps["detail"]
    assert "CAP_SYS_PTRACE" not in caps["detail"]
    # How to grant them, for each way ignis is run.
    for hint in ("--cap-add BPF", "--cap-add PERFMON", "AmbientCapabilities=",
                 "capabilities.add"):
        assert hint in caps["fix"], caps["fix"]
    assert by["bpf-load"]["status"] == "fail"
    assert by["perf_event_paranoid"]["status"] in ("ok", "fail")

    r = subprocess.run(["capsh", "--drop=cap_sys_ptrace,cap_checkpoint_restore,cap_sys_admin",
                        "--", "-c",
                        IGNIS + " check"], capture_output=True, text=True, timeout=120)
    # Fewer names, but profiling works (CAP_BPF and CAP_PERFMON are enough
    # to load and attach): a warning, exit 0.
    assert r.returncode == 0, r.stdout
    line = [x for x in r.stdout.splitlines() if " capabilities: " in x][0]
    assert line.startswith("WARN"), line
    assert "CAP_SYS_PTRACE" in line and "CAP_CHECKPOINT_RESTORE" in line


def test_usage_and_config_errors(tmp):
    assert check("--output", "yaml").returncode == 2
    assert check("extra").returncode == 2
    assert check("--config", os.path.join(tmp, "missing.yaml")).returncode == 2
    bad = write_config(tmp, "sampling:\n  frequncy: 100\n")
    r = check("--config", bad)
    assert r.returncode == 2
    assert "frequncy" in r.stderr
    assert check("--help").returncode == 0


def test_destinations(tmp):
    closed = free_port()
    out = os.path.join(tmp, "out")
    with FakePyroscope() as fp:
        cfg = write_config(tmp, """
spool_dir: %s/spool
destinations:
  - name: good
    type: pyroscope
    url: %s
  - name: nobody-home
    type: pyroscope
    url: http://127.0.0.1:%d
  - name: files
    type: file
    directory: %s
""" % (tmp, fp.url, closed, out))
        r = check("--config", cfg, "--output", "json")
        assert r.returncode == 1, r.stdout + r.stderr
        doc, by = checks(r.stdout)
        assert by["destination good"]["status"] == "ok"
        assert "/ready" in by["destination good"]["detail"]
        bad = by["destination nobody-home"]
        assert bad["status"] == "fail"
        assert "unreachable" in bad["detail"] and str(closed) in bad["detail"]
        assert by["destination files"]["status"] == "ok"
        assert by["spool"]["status"] == "ok"
        # A no-op: nothing was pushed.
        assert not fp.received
        assert {q["path"] for q in fp.requests} <= {"/ready"}


def test_configured_unwind_mode_is_named(tmp):
    cfg = write_config(tmp, """
sampling:
  unwind: copy
  unwind_table_memory: 8MiB
  off_cpu: true
destinations:
  - name: files
    type: file
    directory: %s/profiles
""" % tmp)
    r = check("--config", cfg, "--output", "json")
    assert r.returncode == 0, r.stdout + r.stderr
    _, by = checks(r.stdout)
    u = by["unwind"]
    assert u["status"] == "ok", u
    assert u["detail"].startswith("mode copy (configured): the unwind-table walker loads"), u
    assert u["detail"].endswith("table memory 8 MiB"), u
    # Asked for, off-CPU is checked for real: a failure where it cannot run.
    off = by["off-cpu"]
    assert off["status"] in ("ok", "fail"), off
    assert off["status"] == "fail" or "is off" not in off["detail"], off


def test_unwritable_file_destination(tmp):
    ro = os.path.join(tmp, "ro")
    os.mkdir(ro)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro], check=True)
    try:
        cfg = write_config(tmp, """
destinations:
  - name: files
    type: file
    directory: %s/profiles
""" % ro)
        r = check("--config", cfg, "--output", "json")
        assert r.returncode == 1
        doc, by = checks(r.stdout)
        d = by["destination files"]
        assert d["status"] == "fail"
        assert "Read-only file system" in d["detail"]
    finally:
        subprocess.run(["umount", ro], check=True)


class _Api(http.server.BaseHTTPRequestHandler):
    """A Kubernetes API that knows one token, and a Datadog Agent /info."""
    token = SECRET
    seen = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.path == "/info":
            body = json.dumps({"version": "7.50.0",
                               "endpoints": ["/v0.4/traces", "/profiling/v1/input"]})
            status = 200
        elif self.path.startswith("/api/v1/pods?"):
            if self.headers.get("Authorization") != "Bearer " + self.token:
                status, body = 401, '{"kind":"Status","code":401}'
            elif "spec.nodeName%3Dnode-a" not in self.path and \
                    "spec.nodeName=node-a" not in self.path:
                status, body = 403, '{"kind":"Status","code":403}'
            else:
                status, body = 200, '{"kind":"PodList","items":[]}'
        else:
            status, body = 404, "not found"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Api.seen = []
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_kubernetes_and_datadog_agent(tmp, api):
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write(SECRET + "\n")
    base = """
kubernetes:
  enabled: true
  api_url: %s
  token_file: %s
  node_name: %s
destinations:
  - name: dd
    type: datadog
    url: %s
"""
    r = check("--config", write_config(tmp, base % (api, token, "node-a", api)),
              "--output", "json")
    doc, by = checks(r.stdout)
    assert by["kubernetes"]["status"] == "ok", by["kubernetes"]
    assert by["destination dd"]["status"] == "ok", by["destination dd"]
    assert r.returncode == 0, r.stdout
    assert ("/info", None) in _Api.seen

    # Not allowed to list that node's pods: 403 named, with the RBAC fix.
    r = check("--config", write_config(tmp, base % (api, token, "node-b", api)),
              "--output", "json")
    doc, by = checks(r.stdout)
    assert r.returncode == 1
    assert by["kubernetes"]["status"] == "fail"
    assert "403" in by["kubernetes"]["detail"]
    assert "ClusterRole" in by["kubernetes"]["fix"]

    # A wrong token: 401.
    with open(token, "w") as f:
        f.write("wrong\n")
    r = check("--config", write_config(tmp, base % (api, token, "node-a", api)))
    assert r.returncode == 1
    assert [x for x in r.stdout.splitlines() if x.startswith("FAIL kubernetes: ") and "401" in x]


def test_secrets_never_printed(tmp):
    """The bearer token goes to the intake and nowhere else: not to the
    check's output, not to the agent's debug log."""
    env = dict(os.environ, IGNIS_TEST_TOKEN=SECRET)
    with FakePyroscope(bearer_token=SECRET) as fp:
        # Its own metrics port: another agent may hold the default one.
        cfg = write_config(tmp, """
upload_interval: 1s
metrics:
  listen: "127.0.0.1:%d"
log:
  level: debug
destinations:
  - name: py
    type: pyroscope
    url: %s
    bearer_token_env: IGNIS_TEST_TOKEN
""" % (free_port(), fp.url))
        for fmt in ("text", "json"):
            r = check("--config", cfg, "--output", fmt, env=env)
            assert r.returncode == 0, r.stdout + r.stderr
            assert SECRET not in r.stdout + r.stderr

        log = tempfile.TemporaryFile(mode="w+")
        p = subprocess.Popen([IGNIS, "agent", "--config", cfg], stdout=log,
                             stderr=subprocess.STDOUT, env=env, text=True)
        try:
            fp.wait_for(1, timeout=30)
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(30)
        log.seek(0)
        text = log.read()
        assert fp.received, "the agent delivered nothing: " + text[-2000:]
        assert SECRET not in text
        r = subprocess.run([IGNIS, "agent", "--config", cfg, "--print-config"],
                           capture_output=True, text=True, env=env, timeout=30)
        assert r.returncode == 0
        assert SECRET not in r.stdout + r.stderr
