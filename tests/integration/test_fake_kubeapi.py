"""The fake Kubernetes API server (tests/fakes/kubeapi.py) against requests
built by hand, then the pod-metadata client (identity/kube.c) against the fake
through tests/kube_driver.c, built here with the system compiler (with
AddressSanitizer and UBSan): list, watch, pagination, 410 -> relist, token
and RBAC failures with one warning each, a server that is down then up, the
kubelet's /pods."""
import http.client
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from fakes.kubeapi import (FakeKubeAPI, bare_pod, container_id, cronjob_pod,  # noqa: E402
                           daemonset_pod, deployment_pod, job_pod, statefulset_pod)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "eyJhbGciOiJSUzI1NiJ9.test-token"


# ---- the fake, by hand -------------------------------------------------------

def request(api, path, token=TOKEN, ca=True):
    ctx = ssl.create_default_context(cafile=api.ca_file if ca else None)
    c = http.client.HTTPSConnection("127.0.0.1", api.port, context=ctx, timeout=10)
    headers = {"Authorization": "Bearer " + token} if token else {}
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    body = r.read()
    c.close()
    ctype = r.getheader("Content-Type", "")
    return r.status, json.loads(body) if ctype.startswith("application/json") else body


def watch_lines(api, query, n, token=TOKEN):
    """The first n events of a watch (the connection is then dropped)."""
    ctx = ssl.create_default_context(cafile=api.ca_file)
    c = http.client.HTTPSConnection("127.0.0.1", api.port, context=ctx, timeout=10)
    c.request("GET", "/api/v1/pods?" + urllib.parse.urlencode(dict(query, watch="1")),
              headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    assert r.status == 200
    assert r.getheader("Transfer-Encoding") == "chunked"
    out = []
    while len(out) < n:
        line = r.readline()
        if not line:
            break
        out.append(json.loads(line))
    c.close()
    return out


@pytest.fixture
def api():
    with FakeKubeAPI(token=TOKEN) as a:
        yield a


def test_fake_auth_and_tls(api):
    st, body = request(api, "/api/v1/pods", token=None)
    assert st == 401 and body["kind"] == "Status" and body["reason"] == "Unauthorized"
    st, body = request(api, "/api/v1/pods", token="wrong")
    assert st == 401
    st, body = request(api, "/api/v1/pods")
    assert st == 200 and body["kind"] == "PodList" and body["items"] == []
    # a client that does not trust the test CA cannot talk to it
    with pytest.raises(ssl.SSLCertVerificationError):
        request(api, "/api/v1/pods", ca=False)
    api.forbid = True
    st, body = request(api, "/api/v1/pods")
    assert st == 403 and body["code"] == 403 and "cannot list resource" in body["message"]
    st, body = request(api, "/pods")
    assert st == 403 and b"subresource=proxy" in body


def test_fake_list_selector_and_pages(api):
    for i in range(5):
        api.add_pod(bare_pod("a%d" % i, node="node-a"))
    api.add_pod(bare_pod("b0", node="node-b"))
    st, body = request(api, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a")
    assert st == 200 and len(body["items"]) == 5
    assert all("kind" not in it for it in body["items"])
    st, body = request(api, "/api/v1/pods?fieldSelector=spec.nodeName!%3Dnode-a")
    assert [it["metadata"]["name"] for it in body["items"]] == ["b0"]
    st, body = request(api, "/api/v1/pods?fieldSelector=status.phase%3DRunning")
    assert st == 400 and body["reason"] == "BadRequest"
    names, cont, rvs = [], None, set()
    while True:
        q = {"fieldSelector": "spec.nodeName=node-a", "limit": "2"}
        if cont:
            q["continue"] = cont
        st, body = request(api, "/api/v1/pods?" + urllib.parse.urlencode(q))
        assert st == 200
        rvs.add(body["metadata"]["resourceVersion"])
        names += [it["metadata"]["name"] for it in body["items"]]
        cont = body["metadata"].get("continue")
        if not cont:
            break
        assert body["metadata"]["remainingItemCount"] == 5 - len(names)
    assert names == ["a%d" % i for i in range(5)] and len(rvs) == 1
    # a continue from before a compaction is gone
    st, body = request(api, "/api/v1/pods?limit=2")
    api.expire()
    st, body = request(api, "/api/v1/pods?limit=2&continue=" +
                       urllib.parse.quote(body["metadata"]["continue"]))
    assert st == 410 and body["reason"] == "Expired"


def test_fake_watch(api):
    api.add_pod(bare_pod("x", node="node-a"))
    st, body = request(api, "/api/v1/pods")
    rv = body["metadata"]["resourceVersion"]
    api.add_pod(bare_pod("y", node="node-a"))
    api.add_pod(bare_pod("z", node="node-b"))
    evs = watch_lines(api, {"resourceVersion": rv, "fieldSelector": "spec.nodeName=node-a",
                            "timeoutSeconds": "1"}, 5)
    # only what happened after rv, only node-a's
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [("ADDED", "y")]
    assert evs[0]["object"]["kind"] == "Pod"
    api.expire()
    evs = watch_lines(api, {"resourceVersion": rv}, 5)
    assert len(evs) == 1 and evs[0]["type"] == "ERROR"
    assert evs[0]["object"]["code"] == 410
    assert "too old resource version" in evs[0]["object"]["message"]


# ---- the client through the driver -----------------------------------------

@pytest.fixture(scope="module")
def driver_bin():
    """The client alone, built by make (integration) with the sanitizers."""
    exe = os.environ.get("KUBE_DRIVER", "")
    if not os.access(exe, os.X_OK):
        pytest.fail("KUBE_DRIVER does not name the driver: run through make integration")
    return exe


class Driver:
    def __init__(self, exe, *args):
        self.err = tempfile.NamedTemporaryFile(prefix="ignis-kube-", suffix=".log", delete=False)
        env = dict(os.environ)
        env.pop("KUBERNETES_SERVICE_HOST", None)
        self.proc = subprocess.Popen([exe] + [str(a) for a in args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, text=True, env=env)

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline()
        assert out, "driver died:\n" + self.log()
        return json.loads(out)

    def stats(self):
        return self.cmd("stats")

    def lookup(self, uid=None, cid=None):
        return self.cmd("lookup %s %s" % (uid or "-", cid or "-"))

    def wait(self, pred, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.stats()
            if pred(s):
                return s
            time.sleep(0.05)
        raise AssertionError("condition not reached; last stats %r\n%s" % (self.stats(), self.log()))

    def log(self):
        with open(self.err.name) as f:
            return f.read()

    def warnings(self, needle):
        return [line for line in self.log().splitlines() if needle in line]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        rc = self.proc.wait(30)
        log = self.log()
        os.unlink(self.err.name)
        assert rc == 0, "driver exited %d:\n%s" % (rc, log)
        assert "ERROR: AddressSanitizer" not in log and "runtime error" not in log, log


@pytest.fixture
def token_file():
    d = tempfile.mkdtemp(prefix="ignis-kube-token-")
    path = os.path.join(d, "token")
    with open(path, "w") as f:
        f.write(TOKEN + "\n")
    yield path
    for n in os.listdir(d):
        os.unlink(os.path.join(d, n))
    os.rmdir(d)


@pytest.fixture
def client(driver_bin, token_file):
    started = []

    def start(api, *extra, node="node-a", token=None, ca=None):
        d = Driver(driver_bin, "--node", node, "--api", api.url, "--token", token or token_file,
                   "--ca", ca or api.ca_file, *extra)
        started.append(d)
        return d

    yield start
    for d in started:
        d.close()


def node_a_pods():
    return {
        "deploy": deployment_pod("checkout", "shop", node="node-a", containers=("checkout", "envoy"),
                                 init_containers=("migrate",),
                                 labels={"app.kubernetes.io/version": "1.4.2"},
                                 annotations={"ignis.io/service": "checkout-api"}),
        "sts": statefulset_pod("postgres", 0, "db", node="node-a", runtime="cri-o"),
        "ds": daemonset_pod("fluent-bit", node="node-a", runtime="docker"),
        "cron": cronjob_pod("nightly-report", 29410560, "batch", node="node-a"),
        "job": job_pod("db-migrate-2", "batch", node="node-a"),
        "bare": bare_pod("debug", node="node-a"),
    }


def uid(pod):
    return pod["metadata"]["uid"]


def test_list_then_lookup(api, client):
    pods = node_a_pods()
    for p in pods.values():
        api.add_pod(p)
    other = api.add_pod(deployment_pod("checkout", "shop", node="node-b"))
    d = client(api)
    s = d.wait(lambda s: s["synced"])
    assert s["pods"] == 6 and s["lists"] == 1 and s["errors"] == 0
    want = {"deploy": ("Deployment", "checkout"), "sts": ("StatefulSet", "postgres"),
            "ds": ("DaemonSet", "fluent-bit"), "cron": ("CronJob", "nightly-report"),
            "job": ("Job", "db-migrate-2"), "bare": (None, None)}
    for key, (kind, name) in want.items():
        got = d.lookup(uid(pods[key]))
        assert (got["owner_kind"], got["owner_name"]) == (kind, name), key
        assert got["node"] == "node-a"
        assert got["namespace"] == pods[key]["metadata"]["namespace"]
    dep = d.lookup(uid(pods["deploy"]))
    assert dep["labels"]["app.kubernetes.io/version"] == "1.4.2"
    assert dep["annotations"]["ignis.io/service"] == "checkout-api"
    assert [c["name"] for c in dep["containers"]] == ["checkout", "envoy", "migrate"]
    # by container id alone, the runtime prefix gone, init containers too
    for key, cname in (("deploy", "migrate"), ("sts", "app"), ("ds", "app")):
        got = d.lookup(cid=container_id(uid(pods[key]), cname))
        assert got.get("uid") == uid(pods[key]), (key, got)
    # a systemd cgroup's spelling of the uid finds it too
    assert d.lookup(uid(pods["sts"]).replace("-", "_"))["name"] == "postgres-0"
    # another node's pod is not ours
    assert d.lookup(uid(other)) == {"err": -2}
    lists = api.list_requests()
    assert lists and all(r[1]["fieldSelector"] == "spec.nodeName=node-a" and r[2] for r in lists)
    assert lists[0][1]["limit"] == "500"
    watch = d.wait(lambda s: api.watch_requests()) and api.watch_requests()[0][1]
    assert watch["resourceVersion"] == str(api._rv)
    assert watch["allowWatchBookmarks"] == "true" and int(watch["timeoutSeconds"]) > 0


def test_watch_add_modify_delete(api, client):
    api.add_pod(bare_pod("first", node="node-a"))
    d = client(api)
    d.wait(lambda s: s["synced"] and api.watchers() == 1)
    gen = d.stats()["generation"]

    late = api.add_pod(deployment_pod("web", "shop", node="node-a"))
    api.add_pod(bare_pod("elsewhere", node="node-b"))
    s = d.wait(lambda s: s["pods"] == 2)
    assert s["generation"] > gen and s["lists"] == 1
    assert d.lookup(uid(late))["owner_name"] == "web"

    # a status-only change (most MODIFIED events) does not change the set
    gen, events = s["generation"], s["watch_events"]
    late["status"]["conditions"][0]["lastTransitionTime"] = "2026-11-21T11:00:00Z"
    api.modify_pod(late)
    s = d.wait(lambda s: s["watch_events"] > events)
    assert s["generation"] == gen

    late["metadata"]["labels"]["tier"] = "frontend"
    api.modify_pod(late)
    d.wait(lambda s: s["generation"] > gen)
    assert d.lookup(uid(late))["labels"]["tier"] == "frontend"

    # bookmarks move the resourceVersion, nothing else
    gen, events = d.stats()["generation"], d.stats()["watch_events"]
    api.bookmark()
    s = d.wait(lambda s: s["watch_events"] > events)
    assert s["generation"] == gen

    api.delete_pod(uid(late))
    s = d.wait(lambda s: s["pods"] == 1)
    assert s["generation"] > gen
    # kept for the grace period: its processes may still be in the interval
    assert d.lookup(uid(late))["name"] == late["metadata"]["name"]
    assert s["errors"] == 0 and s["relists"] == 0


def test_deleted_pod_forgotten_after_grace(api, client):
    pod = api.add_pod(bare_pod("short", node="node-a"))
    # resync 1 s: grace min(2 resyncs, 60 s) = 2 s
    d = client(api, "--resync-ms", "1000")
    d.wait(lambda s: s["synced"] and api.watchers() == 1)
    assert d.lookup(uid(pod))["name"] == "short"
    api.delete_pod(uid(pod))
    d.wait(lambda s: s["pods"] == 0)
    deadline = time.monotonic() + 20
    while d.lookup(uid(pod)) != {"err": -2}:
        assert time.monotonic() < deadline, "deleted pod never forgotten"
        time.sleep(0.1)
    assert d.lookup(cid=container_id(uid(pod), "app")) == {"err": -2}


def test_pagination(api, client):
    n = 1234
    for i in range(n):
        api.add_pod(bare_pod("p%04d" % i, node="node-a"))
    d = client(api, "--max-pods", "5000")
    s = d.wait(lambda s: s["synced"])
    assert s["pods"] == n
    lists = api.list_requests()
    assert len(lists) == 3
    assert "continue" not in lists[0][1] and all("continue" in r[1] for r in lists[1:])
    assert d.lookup(uid(bare_pod("p1233", node="node-a")))["name"] == "p1233"


def test_max_pods_bound(api, client):
    for i in range(30):
        api.add_pod(bare_pod("p%02d" % i, node="node-a"))
    d = client(api, "--max-pods", "10")
    s = d.wait(lambda s: s["synced"])
    assert s["pods"] == 10
    api.add_pod(bare_pod("more", node="node-a"))
    d.wait(lambda s: s["watch_events"] >= 1)
    assert d.stats()["pods"] == 10
    assert len(d.warnings("more than 10 pods")) == 1


def test_gone_relists(api, client):
    api.add_pod(bare_pod("a", node="node-a"))
    d = client(api)
    d.wait(lambda s: s["synced"] and api.watchers() == 1)
    api.expire()
    s = d.wait(lambda s: s["relists"] == 1 and s["lists"] == 2)
    assert s["synced"]
    # and the new watch, from the relist's resourceVersion, carries on
    d.wait(lambda s: api.watchers() == 1)
    b = api.add_pod(bare_pod("b", node="node-a"))
    d.wait(lambda s: s["pods"] == 2)
    assert d.lookup(uid(b))["name"] == "b"
    assert d.stats()["errors"] == 0
    assert "kube:" not in d.log()   # a 410 is routine, not worth a line


def test_missing_token_warns_once(api, client, token_file):
    api.add_pod(bare_pod("a", node="node-a"))
    missing = token_file + ".missing"
    d = client(api, token=missing)
    s = d.wait(lambda s: s["errors"] >= 3)
    assert not s["synced"] and "401" in s["last_error"]
    assert d.lookup(uid(bare_pod("a", node="node-a"))) == {"err": -2}
    w = d.warnings("401")
    assert len(w) == 1, d.log()
    assert "no token was sent" in w[0] and "automountServiceAccountToken" in w[0]
    assert all(r[2] is False for r in api.requests)
    # the token appears (the kubelet mounted it): picked up at the next try
    with open(missing, "w") as f:
        f.write(TOKEN)
    s = d.wait(lambda s: s["synced"])
    assert s["pods"] == 1 and s["last_error"] == ""
    assert TOKEN not in d.log()


def test_rotated_token_is_reread(api, client, token_file):
    api.add_pod(bare_pod("a", node="node-a"))
    d = client(api)
    d.wait(lambda s: s["synced"] and api.watchers() == 1)
    api.token = "rotated-token"
    with open(token_file + ".new", "w") as f:
        f.write("rotated-token\n")
    os.rename(token_file + ".new", token_file)
    api.expire()
    s = d.wait(lambda s: s["lists"] == 2)
    assert s["synced"] and s["errors"] == 0


def test_forbidden_warns_once(api, client):
    api.add_pod(bare_pod("a", node="node-a"))
    api.forbid = True
    d = client(api)
    s = d.wait(lambda s: s["errors"] >= 3)
    assert not s["synced"] and s["pods"] == 0
    w = d.warnings("403")
    assert len(w) == 1, d.log()
    assert "list/watch on pods" in w[0] and "deploy/daemonset.yaml" in w[0]
    assert "cannot list resource" in w[0]   # the server's own words
    api.forbid = False
    s = d.wait(lambda s: s["synced"], timeout=30)
    assert s["pods"] == 1
    assert len(d.warnings("answers again")) == 1


def test_server_down_then_up(api, client):
    pod = api.add_pod(bare_pod("a", node="node-a"))
    api.stop()
    d = client(api)
    s = d.wait(lambda s: s["errors"] >= 2)
    assert not s["synced"]
    w = d.warnings("cannot reach")
    assert len(w) == 1 and api.url in w[0]
    api.start()
    s = d.wait(lambda s: s["synced"] and s["pods"] == 1, timeout=30)
    assert d.lookup(uid(pod))["name"] == "a"
    d.wait(lambda s: api.watchers() == 1)
    # down again mid-watch; what changed meanwhile arrives after the restart
    api.stop()
    b = api.add_pod(bare_pod("b", node="node-a"))
    time.sleep(0.5)
    api.start()
    d.wait(lambda s: s["pods"] == 2, timeout=60)
    assert d.lookup(uid(b))["name"] == "b"
    assert len(d.warnings("cannot reach")) == 1


def test_untrusted_certificate(api, client):
    d = client(api, ca="/etc/ssl/certs/ca-certificates.crt")
    s = d.wait(lambda s: s["errors"] >= 1)
    assert not s["synced"]
    w = d.warnings("TLS")
    assert len(w) == 1 and "ca-certificates.crt" in w[0]


def test_kubelet_pods(api, driver_bin, token_file):
    mine = api.add_pod(daemonset_pod("node-exporter", node="node-a"))
    api.add_pod(bare_pod("theirs", node="node-b"))
    d = Driver(driver_bin, "--node", "node-a", "--kubelet", api.url, "--token", token_file,
               "--insecure", "--resync-ms", "300")
    try:
        s = d.wait(lambda s: s["synced"])
        assert s["pods"] == 1
        assert d.lookup(uid(mine))["owner_kind"] == "DaemonSet"
        assert all(r[0] == "/pods" for r in api.requests)
        late = api.add_pod(bare_pod("late", node="node-a"))
        d.wait(lambda s: s["pods"] == 2)
        assert d.lookup(uid(late))["name"] == "late"
        api.forbid = True
        d.wait(lambda s: not s["synced"])
        w = d.warnings("403")
        assert len(w) == 1 and "nodes/proxy" in w[0]
        # what we had stays answered
        assert d.lookup(uid(late))["name"] == "late"
    finally:
        d.close()
