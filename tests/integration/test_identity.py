"""Workload identity end to end: real cgroup v2 directories named as a
kubelet with containerd, CRI-O and Docker name them, real processes moved
into them, a fake Kubernetes API server (TLS from a test CA, bearer token,
list + watch) on 127.0.0.1, real BPF through the agent, and the labels each
workload's profiles carry at a fake Pyroscope: namespace, pod, container,
owner and service/env/version from the sources identity/identity.h puts first;
a pod the watch brings later; DD_*/OTEL_* environment and systemd units
outside Kubernetes; relabel keep/labelmap; a bad regex; an API server that
is down or forbids."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from conftest import IGNIS, ROOT, WORKLOADS
from test_agent import Agent, tmp, write_config  # noqa: F401

sys.path.insert(0, os.path.join(ROOT, "tests"))
from fakes.kubeapi import (FakeKubeAPI, bare_pod, container_id,  # noqa: E402
                           daemonset_pod, deployment_pod, statefulset_pod)
from fakes.pyroscope import FakePyroscope  # noqa: E402

TOKEN = "eyJhbGciOiJSUzI1NiJ9.ignis-identity-test"
NODE = "node-a"
# Workload names are unique per run: other tests may run beside these.
RUN = uuid.uuid4().hex[:6]
IDENTITY_ENV = ("DD_SERVICE", "DD_ENV", "DD_VERSION", "OTEL_SERVICE_NAME",
                "OTEL_RESOURCE_ATTRIBUTES", "KUBERNETES_SERVICE_HOST",
                "KUBERNETES_SERVICE_PORT", "NODE_NAME")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in IDENTITY_ENV + ("DEBUGINFOD_URLS", "IGNIS_HOST"):
        monkeypatch.delenv(var, raising=False)


# ---- cgroups ---------------------------------------------------------------

def cgroup2_root():
    """Where cgroup v2 is mounted: /sys/fs/cgroup, or .../unified on a
    hybrid system."""
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    pytest.skip("no cgroup v2 hierarchy mounted")


class Cgroups:
    """Leaf cgroups under one directory of this run (as kind nests a
    node's kubepods under its own): created with their parents, no
    controllers enabled; removed leaves first after their processes are
    gone."""

    def __init__(self):
        self.mount = cgroup2_root()
        self.top = "ignis-test-%s-%d" % (RUN, os.getpid())
        self.made = []

    def path(self, rel):
        """The cgroup path a process inside shows in /proc/PID/cgroup."""
        return "/%s/%s" % (self.top, rel)

    def make(self, rel):
        d = self.mount + self.path(rel)
        parts = [self.top] + rel.split("/")
        for i in range(1, len(parts) + 1):
            p = os.path.join(self.mount, *parts[:i])
            if not os.path.isdir(p):
                os.mkdir(p)
                self.made.append(p)
        return d

    def remove(self):
        for p in sorted(self.made, key=len, reverse=True):
            # An exiting process leaves its cgroup a moment after wait().
            for _ in range(50):
                try:
                    os.rmdir(p)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    evict(p)
                    time.sleep(0.05)
        left = [p for p in self.made if os.path.isdir(p)]
        assert not left, "cgroups left behind: %r" % left


def evict(cg):
    """Moves whatever is still in cg back to the root cgroup."""
    try:
        with open(os.path.join(cg, "cgroup.procs")) as f:
            pids = f.read().split()
    except OSError:
        return
    root = cgroup2_root()
    for pid in pids:
        try:
            with open(os.path.join(root, "cgroup.procs"), "w") as f:
                f.write(pid)
        except OSError:
            pass


@pytest.fixture
def cgroups():
    c = Cgroups()
    yield c
    c.remove()


def pod_slice(qos, uid):
    """The systemd driver's pod slice path (underscores in the uid)."""
    u = uid.replace("-", "_")
    return ("kubepods.slice/kubepods-{q}.slice/kubepods-{q}-pod{u}.slice"
            .format(q=qos, u=u))


# ---- workloads -------------------------------------------------------------

class Procs:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def start(self, name, cgroup_dir=None, env=None, seconds=60):
        """The split workload copied under name, started inside cgroup_dir
        (the shell moves itself there, then execs it, so the workload never
        runs anywhere else), with env added to a clean environment."""
        exe = os.path.join(self.tmp, name)
        shutil.copy(os.path.join(WORKLOADS, "split"), exe)
        e = {k: v for k, v in os.environ.items() if k not in IDENTITY_ENV}
        e.update(env or {})
        if cgroup_dir:
            argv = ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup_dir,
                    exe, str(seconds)]
        else:
            argv = [exe, str(seconds)]
        p = subprocess.Popen(argv, env=e)
        self.procs.append(p)
        time.sleep(0.2)
        assert p.poll() is None, "workload %s exited early" % name
        if cgroup_dir:
            with open("/proc/%d/cgroup" % p.pid) as f:
                assert any(line.startswith("0::") and line.strip().endswith(
                    cgroup_dir[len(cgroup2_root()):]) for line in f), "not moved"
        return p

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


@pytest.fixture
def procs(tmp):
    p = Procs(tmp)
    yield p
    p.stop()


def new_uid():
    """A pod uid of its own: the fake derives uids (and so container ids)
    from names, which a parallel run would share."""
    return str(uuid.uuid4())


def wname(base):
    return "idw%s-%s" % (RUN, base)


# ---- the agent ---------------------------------------------------------------

def kube_config(tmp, api, url=None, resync="10s"):
    token = os.path.join(tmp, "token")
    with open(token, "w") as f:
        f.write(TOKEN + "\n")
    return """kubernetes:
  enabled: true
  node_name: %s
  api_url: %s
  token_file: %s
  ca_file: %s
  resync: %s
""" % (NODE, url or api.url, token, api.ca_file, resync)


def agent_config(tmp, pyroscope_url, extra="", log_format="plain"):
    return write_config(tmp, """
upload_interval: 1s
shutdown_timeout: 10s
host: test-node
spool_dir: %s
metrics:
  listen: ""
log:
  level: debug
  format: %s
%s
destinations:
  - type: pyroscope
    url: %s
    # The neutral labels as identity made them: the built-in Pyroscope
    # rules drop container_id and runtime.
    default_tag_rules: false
""" % (os.path.join(tmp, "spool"), log_format, extra, pyroscope_url))


def run_for(agent, seconds):
    try:
        time.sleep(seconds)
    finally:
        rc = agent.stop()
    assert rc == 0, agent.output[-5000:]
    return agent.output


def series(fp, key, value):
    """Label sets of every profile received whose label key is value, in
    arrival order."""
    return [dict(r["labels"]) for r in fp.received if r["labels"].get(key) == value]


def no_discovery_labels(fp):
    for r in fp.received:
        leaked = [k for k in r["labels"] if k.startswith("__meta")]
        assert not leaked, r["labels"]


def expect(labels, want, absent=()):
    for k, v in want.items():
        assert labels.get(k) == v, "%s: want %r, got %r in %r" % (k, v, labels.get(k), labels)
    for k in absent:
        assert k not in labels, "%s should be absent: %r" % (k, labels)


def json_records(output):
    """The agent's log.format json lines (anything else, e.g. libbpf's own
    output, skipped)."""
    recs = []
    for line in output.splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            continue
    return recs


# ---- Kubernetes pods ---------------------------------------------------------

def test_pod_identity_from_each_source(tmp, cgroups, procs):
    """Four pods of node-a, their containers in cgroups named as containerd
    (systemd driver), CRI-O, Docker (systemd and cgroupfs drivers) name
    them, and a Docker container outside Kubernetes: each profile carries
    its pod's namespace, pod, container, owner, and service/env/version
    from the first source in identity.h's order that has one."""
    shop = deployment_pod(
        "checkout", "shop", node=NODE, uid=new_uid(), containers=("checkout", "envoy"),
        labels={"app.kubernetes.io/name": "checkout-app",
                "app.kubernetes.io/version": "0.0.9",
                "tags.datadoghq.com/env": "prod",
                "tags.datadoghq.com/version": "1.0.0",
                "tags.datadoghq.com/checkout.version": "3.1.0"},
        annotations={"ignis.io/service": "checkout-api"})
    pg = statefulset_pod("postgres", 0, "db", node=NODE, uid=new_uid(), runtime="cri-o",
                         containers=("postgres",),
                         labels={"app.kubernetes.io/version": "14.0"})
    fluent = daemonset_pod("fluent-bit", "logging", node=NODE, uid=new_uid(), runtime="docker",
                           containers=("fluent-bit",),
                           labels={"app.kubernetes.io/version": "1.9.3"})
    debug = bare_pod("debug-shell", "tools", node=NODE, uid=new_uid(), containers=("shell",),
                     runtime="docker")
    uid = lambda p: p["metadata"]["uid"]  # noqa: E731
    cid = {
        "shop": container_id(uid(shop), "checkout"),
        "pg": container_id(uid(pg), "postgres"),
        "fluent": container_id(uid(fluent), "fluent-bit"),
        "debug": container_id(uid(debug), "shell"),
    }
    docker_alone = hashlib.sha256(("docker-alone" + RUN).encode()).hexdigest()
    dirs = {
        "shop": cgroups.make("%s/cri-containerd-%s.scope"
                             % (pod_slice("burstable", uid(shop)), cid["shop"])),
        "pg": cgroups.make("%s/crio-%s.scope" % (pod_slice("burstable", uid(pg)), cid["pg"])),
        "fluent": cgroups.make("kubepods/besteffort/pod%s/%s" % (uid(fluent), cid["fluent"])),
        "debug": cgroups.make("%s/docker-%s.scope"
                              % (pod_slice("besteffort", uid(debug)), cid["debug"])),
        "docker": cgroups.make("system.slice/docker-%s.scope" % docker_alone),
    }
    with FakeKubeAPI(token=TOKEN, node=NODE) as api, FakePyroscope() as fp:
        for p in (shop, pg, fluent, debug):
            api.add_pod(p)
        # Environment that loses to the pod's sources, and environment
        # that wins over the owner and app.kubernetes.io labels.
        procs.start(wname("shop"), dirs["shop"],
                    {"DD_ENV": "from-env", "DD_SERVICE": "dd-env-svc",
                     "OTEL_SERVICE_NAME": "otel-svc"})
        procs.start(wname("pg"), dirs["pg"],
                    {"DD_SERVICE": "pg-dd", "DD_VERSION": "15.2",
                     "OTEL_RESOURCE_ATTRIBUTES":
                     "service.version=9,deployment.environment=otel%2Denv"})
        procs.start(wname("fluent"), dirs["fluent"])
        procs.start(wname("debug"), dirs["debug"])
        docker_exe = wname("docker")
        procs.start(docker_exe, dirs["docker"])
        agent = Agent(agent_config(tmp, fp.url, kube_config(tmp, api)))
        out = run_for(agent, 5)
        lists = api.list_requests()
        assert lists and all(ok for _, _, ok in lists)
        assert all(q.get("fieldSelector") == "spec.nodeName=" + NODE for _, q, _ in lists)

    no_discovery_labels(fp)
    common = {"node": NODE, "host": "test-node"}
    want = {
        "shop": dict(common, namespace="shop", pod=shop["metadata"]["name"],
                     container="checkout", container_id=cid["shop"], runtime="containerd",
                     workload="checkout", workload_kind="Deployment",
                     service_name="checkout-api",      # ignis.io/service annotation
                     env="prod",                       # tags.datadoghq.com/env beats DD_ENV
                     version="3.1.0"),                 # tags.datadoghq.com/<container>.version
        "pg": dict(common, namespace="db", pod="postgres-0", container="postgres",
                   container_id=cid["pg"], runtime="cri-o", workload="postgres",
                   workload_kind="StatefulSet",
                   service_name="pg-dd",               # DD_SERVICE beats the owner
                   env="otel-env",                     # OTEL_RESOURCE_ATTRIBUTES
                   version="15.2"),                    # DD_VERSION beats OTEL and app.k8s.io
        "fluent": dict(common, namespace="logging", pod=fluent["metadata"]["name"],
                       container="fluent-bit", container_id=cid["fluent"],
                       workload="fluent-bit",
                       workload_kind="DaemonSet",
                       service_name="fluent-bit",      # the owner
                       version="1.9.3"),               # app.kubernetes.io/version
        "debug": dict(common, namespace="tools", pod="debug-shell", container="shell",
                      container_id=cid["debug"], runtime="docker",
                      service_name="tools/shell"),     # namespace/container
    }
    absent = {"shop": (), "pg": (), "fluent": ("env",),
              "debug": ("env", "version", "workload", "workload_kind")}
    for k, w in want.items():
        got = series(fp, "container_id", cid[k])
        assert got, "no profile of %s: %r\n%s" % (
            k, sorted({r["labels"].get("container_id", "-") for r in fp.received}),
            out[-4000:])
        # The pod list may land after the first resolution: never wrong
        # pod labels, and the complete ones from then on.
        with_pod = [g for g in got if "pod" in g]
        assert with_pod and got[-1] == with_pod[-1], (k, got)
        assert all(g == with_pod[0] for g in with_pod), (k, with_pod)
        assert len(with_pod) >= len(got) - 2, (k, got)
        expect(with_pod[-1], w, absent[k] + ("systemd_unit",))
    got = series(fp, "container_id", docker_alone)
    assert got, out[-4000:]
    for g in got:
        expect(g, {"runtime": "docker", "service_name": docker_exe, "host": "test-node"},
               ("pod", "namespace", "node", "workload", "env", "version"))
    assert not re.search(r"kube: .*(cannot reach|Forbidden|Unauthorized|failed)", out), \
        out[-4000:]


def test_pod_known_after_its_process_started(tmp, cgroups, procs):
    """A container whose pod the API server does not know yet gets
    cgroup-level labels; once the watch stream brings the pod, later
    intervals carry its metadata."""
    late = deployment_pod("late-app", "web", node=NODE, uid=new_uid(), containers=("web",),
                          labels={"app.kubernetes.io/name": "late-web"})
    uid = late["metadata"]["uid"]
    cid = container_id(uid, "web")
    d = cgroups.make("%s/cri-containerd-%s.scope" % (pod_slice("burstable", uid), cid))
    exe = wname("late")
    with FakeKubeAPI(token=TOKEN, node=NODE) as api, FakePyroscope() as fp:
        api.add_pod(bare_pod("other", "web", node=NODE, uid=new_uid()))
        procs.start(exe, d)
        agent = Agent(agent_config(tmp, fp.url, kube_config(tmp, api, resync="1h")))
        try:
            assert fp.wait_for(1, timeout=20)
            assert api.wait_for(lambda: api.watchers() > 0, timeout=10)
            time.sleep(2.5)
            before = len(fp.received)
            api.add_pod(late)
            time.sleep(3.5)
        finally:
            rc = agent.stop()
        assert rc == 0, agent.output[-4000:]
        # Only the list at start: the pod came by the watch.
        assert len(api.list_requests()) == 1, api.requests
    got = series(fp, "container_id", cid)
    early = [r["labels"] for r in fp.received[:before]
             if r["labels"].get("container_id") == cid]
    assert early, agent.output[-4000:]
    for g in early:
        expect(g, {"runtime": "containerd", "service_name": exe},
               ("pod", "namespace", "workload"))
    assert got[-1].get("pod") == late["metadata"]["name"], got
    expect(got[-1], {"namespace": "web", "container": "web", "workload": "late-app",
                     "workload_kind": "Deployment", "service_name": "late-web",
                     "container_id": cid, "runtime": "containerd"})
    labelled = [g for g in got if "pod" in g]
    assert len(labelled) >= 2, got


# ---- outside Kubernetes --------------------------------------------------------

def test_environment_and_systemd_identity(tmp, cgroups, procs):
    """Bare processes: DD_* env, OTEL_* env, a systemd service's cgroup,
    and a process with none of them (its executable's name)."""
    unit = "ignis-test-%s.service" % RUN
    svc_dir = cgroups.make("system.slice/" + unit)
    with FakePyroscope() as fp:
        procs.start(wname("dd"), env={"DD_SERVICE": "dd-svc-" + RUN, "DD_ENV": "staging",
                                      "DD_VERSION": "2.3.4"})
        procs.start(wname("otel"), env={
            "OTEL_SERVICE_NAME": "otel-svc-" + RUN,
            "OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored,deployment.environment.name=qa,"
                                        "deployment.environment=old,service.version=7.0%2Bb1"})
        procs.start(wname("otelattr"), env={
            "OTEL_RESOURCE_ATTRIBUTES": "service.name=otel-attr-%s,service.version=1" % RUN})
        procs.start(wname("unit"), svc_dir)
        plain = wname("plain")
        procs.start(plain)
        agent = Agent(agent_config(tmp, fp.url))
        run_for(agent, 4)
    no_discovery_labels(fp)
    cases = [
        ("dd-svc-" + RUN, {"env": "staging", "version": "2.3.4"}, ()),
        ("otel-svc-" + RUN, {"env": "qa", "version": "7.0+b1"}, ()),
        ("otel-attr-" + RUN, {"version": "1"}, ("env",)),
        ("ignis-test-" + RUN, {"systemd_unit": unit}, ("env", "version")),
        (plain, {}, ("env", "version", "systemd_unit")),
    ]
    for svc, want, absent in cases:
        got = series(fp, "service_name", svc)
        assert got, "no profile of %s: %r" % (svc, sorted({r["labels"].get("service_name")
                                                          for r in fp.received}))
        for g in got:
            expect(g, dict(want, host="test-node"),
                   absent + ("container_id", "runtime", "pod", "namespace"))


EXEC_SCRIPT = """
import os, sys, time
t = time.time()
while time.time() - t < float(sys.argv[3]):
    pass
os.execve(sys.argv[1], [sys.argv[1], "60"], dict(os.environ, DD_SERVICE=sys.argv[2]))
"""


def test_identity_resolved_again_on_exec(tmp, procs):
    """A process that execs another program with another environment is
    resolved again: its samples move to the new service."""
    before, after = "exec-before-" + RUN, "exec-after-" + RUN
    exe = os.path.join(tmp, wname("exec"))
    shutil.copy(os.path.join(WORKLOADS, "split"), exe)
    with FakePyroscope() as fp:
        agent = Agent(agent_config(tmp, fp.url))
        try:
            assert fp.wait_for(1, timeout=20)
            env = {k: v for k, v in os.environ.items() if k not in IDENTITY_ENV}
            env["DD_SERVICE"] = before
            p = subprocess.Popen([sys.executable, "-c", EXEC_SCRIPT, exe, after, "2.5"],
                                 env=env)
            procs.procs.append(p)
            time.sleep(5.5)
        finally:
            rc = agent.stop()
        assert rc == 0, agent.output[-4000:]
    order = [r["labels"].get("service_name") for r in fp.received]
    assert before in order and after in order, sorted(set(order))
    afters = [i for i, s in enumerate(order) if s == after]
    assert len(afters) >= 2, order
    # The interval of the exec may carry both; none after it the old one.
    assert max(i for i, s in enumerate(order) if s == before) < afters[1], order
    assert re.search(r"agent: pid %d \(.*\): series \d+" % p.pid, agent.output)


# ---- relabeling ----------------------------------------------------------------

def test_relabel_keep_namespace_and_labelmap(tmp, cgroups, procs):
    """keep on __meta_kubernetes_namespace profiles that namespace only (the
    other pod and every bare process are refused, and logged so);
    labelmap copies the pod's labels."""
    shop = deployment_pod("cart", "shop", node=NODE, uid=new_uid(), containers=("cart",),
                          labels={"tier": "frontend", "team.example.com/owner": "payments"})
    other = deployment_pod("batch", "jobs", node=NODE, uid=new_uid(), containers=("batch",),
                           labels={"tier": "backend"})
    dirs, cids = {}, {}
    for name, p, c in (("shop", shop, "cart"), ("other", other, "batch")):
        cids[name] = container_id(p["metadata"]["uid"], c)
        dirs[name] = cgroups.make("%s/cri-containerd-%s.scope"
                                  % (pod_slice("burstable", p["metadata"]["uid"]), cids[name]))
    with FakeKubeAPI(token=TOKEN, node=NODE) as api, FakePyroscope() as fp:
        api.add_pod(shop)
        api.add_pod(other)
        ps = {n: procs.start(wname(n), dirs[n]) for n in dirs}
        bare = procs.start(wname("bare"))
        extra = kube_config(tmp, api) + """relabel_configs:
  - source_labels: [__meta_kubernetes_namespace]
    regex: shop
    action: keep
  - regex: __meta_kubernetes_pod_label_(.+)
    action: labelmap
"""
        agent = Agent(agent_config(tmp, fp.url, extra))
        out = run_for(agent, 5)
    assert fp.received, out[-4000:]
    no_discovery_labels(fp)
    for r in fp.received:
        assert r["labels"].get("namespace") == "shop", r["labels"]
    got = series(fp, "container_id", cids["shop"])
    assert got
    expect(got[-1], {"tier": "frontend", "team_example_com_owner": "payments",
                     "app": "cart", "namespace": "shop", "service_name": "cart"})
    assert not series(fp, "container_id", cids["other"])
    for p in (ps["other"], bare):
        assert re.search(r"agent: pid %d \(.*\): not profiled \(relabel rules\)" % p.pid, out), \
            out[-4000:]
    # The process the rules keep is resolved to a series, at last for good.
    assert re.search(r"agent: pid %d \(.*\): series \d+" % ps["shop"].pid, out)


def test_relabel_bad_regex_is_a_config_error(tmp):
    cfg = write_config(tmp, """
upload_interval: 1s
relabel_configs:
  - source_labels: [namespace]
    regex: shop
    action: keep
  - source_labels: [pod]
    regex: "web-(["
    action: drop
destinations:
  - type: file
    directory: %s
""" % os.path.join(tmp, "out"))
    r = subprocess.run([IGNIS, "agent", "--config", cfg], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    msg = r.stderr.strip()
    assert re.search(r"ignis\.yaml:\d+: relabel_configs\[1\]\.regex: .*offset \d+", msg), msg
    assert "missing terminating ] for character class" in msg, msg


# ---- no API access ---------------------------------------------------------------

@pytest.mark.parametrize("failure", ["down", "forbidden"])
def test_no_api_access_keeps_cgroup_identity(tmp, cgroups, procs, failure):
    """The API server refuses connections or answers 403: one warning that
    says so, and profiles still flow with the cgroup's container id and
    runtime, the service named by the fallback."""
    uid = str(uuid.uuid4())
    cid = hashlib.sha256(("noapi" + uid).encode()).hexdigest()
    d = cgroups.make("%s/cri-containerd-%s.scope" % (pod_slice("besteffort", uid), cid))
    exe = wname("noapi")
    with FakeKubeAPI(token=TOKEN, node=NODE) as api, FakePyroscope() as fp:
        url = api.url
        if failure == "down":
            api.stop()
        else:
            api.forbid = True
        procs.start(exe, d)
        agent = Agent(agent_config(tmp, fp.url, kube_config(tmp, api, url=url),
                                   log_format="json"))
        out = run_for(agent, 4)
        if failure == "forbidden":
            assert api.requests, "the agent never asked the API server"
    got = series(fp, "container_id", cid)
    assert len(got) >= 2, out[-4000:]
    for g in got:
        expect(g, {"runtime": "containerd", "service_name": exe, "host": "test-node"},
               ("pod", "namespace", "workload", "node"))
    recs = json_records(out)
    assert any(r.get("level") == "debug" for r in recs), out[-2000:]
    warned = [r["msg"] for r in recs if r.get("module") == "kube" and r.get("level") == "warn"]
    # Retries go on in the background, each a debug line.
    retries = [r for r in recs if r.get("module") == "kube" and r.get("level") == "debug"]
    assert len(warned) == 1, warned or out[-4000:]
    assert retries, out[-4000:]
    if failure == "forbidden":
        assert "403 Forbidden" in warned[0] and "list/watch on pods" in warned[0], warned
    else:
        assert "cannot reach " + url in warned[0], warned
        assert "cgroup-level identity" in warned[0], warned
