"""A test Kubernetes API server (and kubelet) that answers like the real ones,
for the pod-metadata client's tests.

HTTPS on 127.0.0.1 with a certificate from a CA made at test time (openssl
CLI; .ca_file is what a client must trust). It serves:
  GET /api/v1/pods                     a PodList: fieldSelector (spec.nodeName,
                                       metadata.name, metadata.namespace with
                                       =, ==, !=; others 400 as the real server),
                                       limit + continue pagination over one
                                       snapshot, metadata.remainingItemCount;
  GET /api/v1/pods?watch=1             the watch stream: chunked, one JSON event
                                       per line (ADDED/MODIFIED/DELETED/BOOKMARK/
                                       ERROR), events after resourceVersion
                                       replayed first, kept open until
                                       timeoutSeconds, stop() or expire();
  GET /pods                            the kubelet's PodList (pods of .node).
Like the real servers: no or a wrong "Authorization: Bearer" is 401, a
forbidden caller 403 (Status JSON from the API server, plain text from the
kubelet), a watch or continue from a compacted resourceVersion 410 / an
ERROR event {"code": 410, "reason": "Expired", "message": "too old resource
version: ..."}.

Scripting: add_pod / modify_pod / delete_pod push events to open watches,
expire() compacts history (open watches get ERROR 410), bookmark(),
forbid = True answers 403, stop() then start() is a server that was down
(same port). .requests records (path, query, authorized) of every request.
make_pod and its siblings build pods in the real JSON shape."""
import base64
import copy
import hashlib
import http.server
import json
import os
import queue
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

_CERTS = None
_CERTS_LOCK = threading.Lock()


def make_certs():
    """(dir, ca.crt, server.crt, server.key): a test CA and a server
    certificate for IP:127.0.0.1, made once per process."""
    global _CERTS
    with _CERTS_LOCK:
        if _CERTS:
            return _CERTS
        d = tempfile.mkdtemp(prefix="ignis-kubeapi-")
        p = lambda n: os.path.join(d, n)  # noqa: E731

        def run(*args):
            subprocess.run(["openssl"] + list(args), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "2",
            "-subj", "/CN=ignis-test-ca")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=kube-apiserver")
        with open(p("ext.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "extendedKeyUsage=serverAuth\n")
        run("x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
            "-CAcreateserial", "-out", p("server.crt"), "-days", "2", "-extfile", p("ext.cnf"))
        _CERTS = (d, p("ca.crt"), p("server.crt"), p("server.key"))
        return _CERTS


# ---- pods in the real shape ------------------------------------------------

RUNTIME_PREFIX = {"containerd": "containerd://", "cri-o": "cri-o://", "docker": "docker://"}
TS = "2026-11-21T10:00:00Z"


def container_id(pod_uid, name):
    """The bare 64-hex id the fake's runtime gives a container."""
    return hashlib.sha256(("%s/%s" % (pod_uid, name)).encode()).hexdigest()


def _rand_suffix(seed, n=5):
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    h = hashlib.sha256(seed.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in h[:n])


def _container_spec(name, image):
    return {
        "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                      "requests": {"cpu": "100m", "memory": "128Mi"}},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                          "name": "kube-api-access-" + _rand_suffix(name), "readOnly": True}],
    }


def _container_status(uid, name, image, runtime, init=False, started=True):
    st = {
        "image": image, "imageID": "", "lastState": {}, "name": name,
        "ready": started and not init, "restartCount": 0,
        "state": {"waiting": {"reason": "ContainerCreating"}},
    }
    if started:
        st["containerID"] = RUNTIME_PREFIX[runtime] + container_id(uid, name)
        st["imageID"] = image.split(":")[0] + "@sha256:" + hashlib.sha256(image.encode()).hexdigest()
        if init:
            st["state"] = {"terminated": {"containerID": st["containerID"], "exitCode": 0,
                                          "reason": "Completed", "startedAt": TS,
                                          "finishedAt": TS}}
        else:
            st["started"] = True
            st["state"] = {"running": {"startedAt": TS}}
    return st


def make_pod(name, namespace="default", node="node-a", owner=None, labels=None,
             annotations=None, containers=("app",), init_containers=(),
             ephemeral_containers=(), runtime="containerd", uid=None, started=True,
             generate_name=None):
    """A Pod as the API server returns it (kind/apiVersion included: list
    items drop them when served). owner: (apiVersion, kind, name) of the
    controller."""
    uid = uid or str(uuid.uuid5(uuid.NAMESPACE_URL, "%s/%s/%s" % (node, namespace, name)))
    image = lambda c: "registry.example.com/%s/%s:1.4.2" % (namespace, c)  # noqa: E731
    meta = {
        "creationTimestamp": TS,
        "labels": dict(labels or {}),
        "name": name, "namespace": namespace, "resourceVersion": "1", "uid": uid,
        "managedFields": [{
            "apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kube-controller-manager",
            "operation": "Update", "time": TS,
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}}},
                         "f:spec": {"f:containers": {'k:{"name":"%s"}' % c: {
                             ".": {}, "f:image": {}, "f:name": {},
                             "f:resources": {".": {}, "f:limits": {".": {}, "f:cpu": {}}}}
                             for c in containers}}},
        }],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    if generate_name:
        meta["generateName"] = generate_name
    if owner:
        api, kind, oname = owner
        meta["ownerReferences"] = [{
            "apiVersion": api, "blockOwnerDeletion": True, "controller": True, "kind": kind,
            "name": oname, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, "%s/%s" % (kind, oname))),
        }]
    vol = "kube-api-access-" + _rand_suffix(name)
    spec = {
        "containers": [_container_spec(c, image(c)) for c in containers],
        "dnsPolicy": "ClusterFirst", "enableServiceLinks": True, "nodeName": node,
        "preemptionPolicy": "PreemptLowerPriority", "priority": 0, "restartPolicy": "Always",
        "schedulerName": "default-scheduler", "securityContext": {},
        "serviceAccount": "default", "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready",
                         "operator": "Exists", "tolerationSeconds": 300}],
        "volumes": [{"name": vol, "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}],
                           "name": "kube-root-ca.crt"}},
            {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1",
                                                     "fieldPath": "metadata.namespace"},
                                        "path": "namespace"}]}}]}}],
    }
    status = {
        "conditions": [{"lastProbeTime": None, "lastTransitionTime": TS, "status": "True",
                        "type": t} for t in ("Initialized", "Ready", "ContainersReady",
                                             "PodScheduled")],
        "containerStatuses": [_container_status(uid, c, image(c), runtime, started=started)
                              for c in containers],
        "hostIP": "10.0.0.4", "phase": "Running" if started else "Pending",
        "podIP": "10.244.1.7", "podIPs": [{"ip": "10.244.1.7"}], "qosClass": "Burstable",
        "startTime": TS,
    }
    if init_containers:
        spec["initContainers"] = [_container_spec(c, image(c)) for c in init_containers]
        status["initContainerStatuses"] = [
            _container_status(uid, c, image(c), runtime, init=True, started=started)
            for c in init_containers]
    if ephemeral_containers:
        spec["ephemeralContainers"] = [{"name": c, "image": image(c),
                                        "targetContainerName": containers[0]}
                                       for c in ephemeral_containers]
        status["ephemeralContainerStatuses"] = [
            _container_status(uid, c, image(c), runtime, started=started)
            for c in ephemeral_containers]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def deployment_pod(deployment, namespace="default", template_hash="7d4b9c8f6d", labels=None, **kw):
    rs = "%s-%s" % (deployment, template_hash)
    name = kw.pop("name", None) or "%s-%s" % (rs, _rand_suffix(rs + namespace + str(kw.get("node"))))
    lab = {"app": deployment, "pod-template-hash": template_hash}
    lab.update(labels or {})
    return make_pod(name, namespace, owner=("apps/v1", "ReplicaSet", rs), labels=lab,
                    generate_name=rs + "-", **kw)


def statefulset_pod(statefulset, ordinal=0, namespace="default", labels=None, **kw):
    name = "%s-%d" % (statefulset, ordinal)
    lab = {"app": statefulset, "controller-revision-hash": statefulset + "-5b8f7d9c4",
           "statefulset.kubernetes.io/pod-name": name, "apps.kubernetes.io/pod-index": str(ordinal)}
    lab.update(labels or {})
    return make_pod(name, namespace, owner=("apps/v1", "StatefulSet", statefulset), labels=lab,
                    generate_name=statefulset + "-", **kw)


def daemonset_pod(daemonset, namespace="kube-system", labels=None, **kw):
    name = kw.pop("name", None) or "%s-%s" % (daemonset, _rand_suffix(daemonset + str(kw.get("node"))))
    lab = {"app": daemonset, "controller-revision-hash": "6c9d8b7f5", "pod-template-generation": "3"}
    lab.update(labels or {})
    return make_pod(name, namespace, owner=("apps/v1", "DaemonSet", daemonset), labels=lab,
                    generate_name=daemonset + "-", **kw)


def cronjob_pod(cronjob, scheduled_minutes=29410560, namespace="default", labels=None, **kw):
    """A pod of the Job the CronJob controller made: <cronjob>-<minutes>."""
    job = "%s-%d" % (cronjob, scheduled_minutes)
    ctl = str(uuid.uuid5(uuid.NAMESPACE_URL, "Job/" + job))
    lab = {"batch.kubernetes.io/controller-uid": ctl, "batch.kubernetes.io/job-name": job,
           "controller-uid": ctl, "job-name": job}
    lab.update(labels or {})
    return make_pod("%s-%s" % (job, _rand_suffix(job)), namespace, owner=("batch/v1", "Job", job),
                    labels=lab, generate_name=job + "-", **kw)


def job_pod(job, namespace="default", labels=None, **kw):
    ctl = str(uuid.uuid5(uuid.NAMESPACE_URL, "Job/" + job))
    lab = {"batch.kubernetes.io/controller-uid": ctl, "batch.kubernetes.io/job-name": job,
           "controller-uid": ctl, "job-name": job}
    lab.update(labels or {})
    return make_pod("%s-%s" % (job, _rand_suffix(job)), namespace, owner=("batch/v1", "Job", job),
                    labels=lab, generate_name=job + "-", **kw)


def bare_pod(name, namespace="default", **kw):
    return make_pod(name, namespace, **kw)


# ---- the server --------------------------------------------------------------

def status_body(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


_FIELDS = {
    "spec.nodeName": lambda p: p["spec"].get("nodeName", ""),
    "metadata.name": lambda p: p["metadata"]["name"],
    "metadata.namespace": lambda p: p["metadata"].get("namespace", ""),
}


class BadRequest(Exception):
    pass


def parse_field_selector(sel):
    """[(getter, op, value)] as the API server reads spec.nodeName=x,..."""
    terms = []
    for term in filter(None, (sel or "").split(",")):
        for op in ("!=", "==", "="):
            if op in term:
                field, value = term.split(op, 1)
                break
        else:
            raise BadRequest('invalid selector: \'%s\'; can\'t understand \'%s\'' % (sel, term))
        if field not in _FIELDS:
            raise BadRequest('"%s" is not a known field selector: only "metadata.name", '
                             '"metadata.namespace", "spec.nodeName"' % field)
        terms.append((_FIELDS[field], op, value))
    return terms


def selected(pod, terms):
    for get, op, value in terms:
        if (get(pod) == value) == (op == "!="):
            return False
    return True


class FakeKubeAPI:
    def __init__(self, token="test-token", node="node-a"):
        self.token = token
        self.node = node          # the kubelet's node, for /pods
        self.forbid = False
        self.requests = []
        self._lock = threading.Lock()
        self._pods = {}           # uid -> pod (API shape, kind included)
        self._rv = 100
        self._history = []        # (rv, type, pod)
        self._min_rv = 0          # watches from below this are 410
        self._snapshots = {}      # continue token -> (rv, [pods])
        self._watchers = set()    # queues of open watches
        self._conns = set()
        self._server = None
        self._thread = None
        self.port = 0
        self.url = None
        self.certdir, self.ca_file, self._cert, self._key = make_certs()

    # ---- life -------------------------------------------------------------

    def start(self):
        fake = self
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self._cert, self._key)

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def finish_request(self, request, client_address):
                # the handshake in the connection's thread, so a client that
                # never finishes it cannot stall the accept loop
                try:
                    request.settimeout(10)
                    tls = ctx.wrap_socket(request, server_side=True)
                    tls.settimeout(None)
                except (ssl.SSLError, OSError):
                    return
                with fake._lock:
                    fake._conns.add(tls)
                try:
                    self.RequestHandlerClass(tls, client_address, self)
                except (ssl.SSLError, OSError):
                    pass
                finally:
                    with fake._lock:
                        fake._conns.discard(tls)
                    try:
                        tls.close()
                    except OSError:
                        pass

        class Handler(_Handler):
            pass

        Handler.fake = self
        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self.url = "https://127.0.0.1:%d" % self.port
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Down: open connections cut, new ones refused (start() again on the
        same port brings it back with the same pods)."""
        if not self._server:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for q in self._watchers:
                q.put(None)
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---- state and scripting ---------------------------------------------

    def _bump(self, typ, pod):
        self._rv += 1
        pod["metadata"]["resourceVersion"] = str(self._rv)
        snap = copy.deepcopy(pod)
        self._history.append((self._rv, typ, snap))
        for q in self._watchers:
            q.put((self._rv, typ, snap))

    def add_pod(self, pod):
        with self._lock:
            pod = copy.deepcopy(pod)
            self._pods[pod["metadata"]["uid"]] = pod
            self._bump("ADDED", pod)
        return pod

    def modify_pod(self, pod):
        with self._lock:
            pod = copy.deepcopy(pod)
            assert pod["metadata"]["uid"] in self._pods, "modify of an unknown pod"
            self._pods[pod["metadata"]["uid"]] = pod
            self._bump("MODIFIED", pod)
        return pod

    def delete_pod(self, uid):
        with self._lock:
            pod = self._pods.pop(uid)
            pod["metadata"]["deletionTimestamp"] = TS
            self._bump("DELETED", pod)

    def bookmark(self):
        with self._lock:
            ev = (self._rv, "BOOKMARK", None)
            for q in self._watchers:
                q.put(ev)

    def expire(self):
        """Compacts history: watches and continues from before now are 410,
        and open watches get the ERROR event the real server sends."""
        with self._lock:
            self._min_rv = self._rv
            self._history = []
            self._snapshots = {}
            for q in self._watchers:
                q.put("expired")

    def watchers(self):
        with self._lock:
            return len(self._watchers)

    def list_requests(self):
        return [r for r in self.requests if r[0] == "/api/v1/pods" and "watch" not in r[1]]

    def watch_requests(self):
        return [r for r in self.requests if r[0] == "/api/v1/pods" and "watch" in r[1]]

    def wait_for(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            time.sleep(0.05)
        return pred()

    # ---- answers ----------------------------------------------------------

    def _item(self, pod):
        it = copy.deepcopy(pod)
        it.pop("kind", None)
        it.pop("apiVersion", None)
        return it

    def list_pods(self, query):
        terms = parse_field_selector(query.get("fieldSelector"))
        limit = int(query.get("limit", "0") or "0")
        if limit < 0:
            raise BadRequest("limit must be non-negative")
        cont = query.get("continue")
        with self._lock:
            if cont:
                if cont not in self._snapshots:
                    return 410, status_body(
                        410, "Expired", "The provided continue parameter is too old to display a "
                        "consistent list result. You can start a new list without the continue "
                        "parameter, or use the continue token in this response to retrieve the "
                        "remainder of the results. Continuing with the provided token results in "
                        "an inconsistent list - objects that were created, modified, or deleted "
                        "between the time the first chunk was returned and now may show up in "
                        "the list.")
                rv, rest = self._snapshots.pop(cont)
            else:
                rv = self._rv
                rest = sorted((p for p in self._pods.values() if selected(p, terms)),
                              key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))
                rest = [copy.deepcopy(p) for p in rest]
            page, rest = (rest[:limit], rest[limit:]) if limit else (rest, [])
            meta = {"resourceVersion": str(rv)}
            if rest:
                key = base64.b64encode(json.dumps(
                    {"v": "meta.k8s.io/v1", "rv": rv,
                     "start": "%s/%s\u0000" % (page[-1]["metadata"]["namespace"],
                                               page[-1]["metadata"]["name"])}).encode()).decode()
                self._snapshots[key] = (rv, rest)
                meta["continue"] = key
                meta["remainingItemCount"] = len(rest)
        return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": meta,
                     "items": [self._item(p) for p in page]}

    def kubelet_pods(self):
        with self._lock:
            pods = [self._item(p) for p in self._pods.values()
                    if p["spec"].get("nodeName") == self.node]
        return {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": pods}

    def open_watch(self, query):
        """(queue, backlog events) or raises; None backlog: expired."""
        terms = parse_field_selector(query.get("fieldSelector"))
        rv = query.get("resourceVersion", "")
        q = queue.Queue()
        with self._lock:
            if rv in ("", "0"):
                backlog = [(self._rv, "ADDED", copy.deepcopy(p)) for p in self._pods.values()]
            else:
                try:
                    n = int(rv)
                except ValueError:
                    raise BadRequest("invalid resource version: %s" % rv)
                if n < self._min_rv:
                    return q, terms, None, n
                backlog = [e for e in self._history if e[0] > n]
            self._watchers.add(q)
        return q, terms, backlog, None

    def close_watch(self, q):
        with self._lock:
            self._watchers.discard(q)

    def too_old(self, n):
        return {"type": "ERROR", "object": status_body(
            410, "Expired", "too old resource version: %d (%d)" % (n, self._min_rv))}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake = None

    def log_message(self, fmt, *args):
        pass

    def _send(self, code, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, obj):
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self):
        fake = self.fake
        u = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        auth = self.headers.get("Authorization", "")
        ok = auth == "Bearer " + fake.token
        with fake._lock:
            fake.requests.append((u.path, query, ok))
        kubelet = u.path == "/pods"
        if not ok:
            if kubelet:
                return self._send(401, b"Unauthorized", "text/plain; charset=utf-8")
            return self._send(401, status_body(401, "Unauthorized", "Unauthorized"))
        if fake.forbid:
            if kubelet:
                return self._send(403, b"Forbidden (user=system:serviceaccount:ignis:ignis, "
                                  b"verb=get, resource=nodes, subresource=proxy)",
                                  "text/plain; charset=utf-8")
            return self._send(403, status_body(
                403, "Forbidden", 'pods is forbidden: User "system:serviceaccount:ignis:ignis" '
                'cannot %s resource "pods" in API group "" at the cluster scope'
                % ("watch" if query.get("watch") in ("1", "true") else "list"),
                {"kind": "pods"}))
        try:
            if kubelet:
                return self._send(200, fake.kubelet_pods())
            if u.path != "/api/v1/pods":
                return self._send(404, status_body(404, "NotFound",
                                                   "the server could not find the requested resource"))
            if query.get("watch") in ("1", "true"):
                return self._watch(query)
            code, body = fake.list_pods(query)
            return self._send(code, body)
        except BadRequest as e:
            return self._send(400, status_body(400, "BadRequest", str(e)))

    def _watch(self, query):
        fake = self.fake
        q, terms, backlog, old = fake.open_watch(query)
        timeout = float(query.get("timeoutSeconds", "1800") or "1800")
        deadline = time.monotonic() + timeout
        bookmarks = query.get("allowWatchBookmarks") == "true"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if backlog is None:
                self._chunk(fake.too_old(old))
                return
            for _, typ, pod in backlog:
                if selected(pod, terms):
                    self._chunk({"type": typ, "object": pod})
            while time.monotonic() < deadline:
                try:
                    ev = q.get(timeout=0.1)
                except queue.Empty:
                    continue
                if ev is None:
                    return
                if ev == "expired":
                    self._chunk(fake.too_old(int(query.get("resourceVersion") or 0)))
                    return
                rv, typ, pod = ev
                if typ == "BOOKMARK":
                    if bookmarks:
                        self._chunk({"type": "BOOKMARK", "object": {
                            "kind": "Pod", "apiVersion": "v1",
                            "metadata": {"resourceVersion": str(rv), "creationTimestamp": None},
                            "spec": {"containers": None}, "status": {}}})
                elif selected(pod, terms):
                    self._chunk({"type": typ, "object": pod})
        finally:
            fake.close_watch(q)
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                pass


def write_fixtures(outdir):
    """Regenerates tests/fixtures/kube/ (the files are committed)."""
    os.makedirs(outdir, exist_ok=True)
    pods = {
        "pod-deployment.json": deployment_pod(
            "checkout", "shop", node="node-a", init_containers=("migrate",),
            containers=("checkout", "envoy"),
            labels={"app.kubernetes.io/name": "checkout", "app.kubernetes.io/version": "1.4.2",
                    "tags.datadoghq.com/env": "prod"},
            annotations={"ignis.io/service": "checkout-api",
                         "kubectl.kubernetes.io/last-applied-configuration": "{" + "x" * 6000 + "}"}),
        "pod-statefulset.json": statefulset_pod("postgres", 1, "db", node="node-a", runtime="cri-o"),
        "pod-daemonset.json": daemonset_pod("fluent-bit", node="node-a", runtime="docker"),
        "pod-cronjob.json": cronjob_pod("nightly-report", 29410560, "batch", node="node-a"),
        "pod-job.json": job_pod("db-migrate-2", "batch", node="node-a"),
        "pod-bare.json": bare_pod("debug-shell", "default", node="node-a", started=False),
        "pod-ephemeral.json": bare_pod("toolbox", "default", node="node-a",
                                       ephemeral_containers=("debugger-x7k2p",)),
    }
    for name, pod in pods.items():
        with open(os.path.join(outdir, name), "w") as f:
            json.dump(pod, f, indent=2)
            f.write("\n")
    api = FakeKubeAPI()
    for pod in pods.values():
        api.add_pod(pod)
    _, page = api.list_pods({"fieldSelector": "spec.nodeName=node-a", "limit": "3"})
    with open(os.path.join(outdir, "podlist-page1.json"), "w") as f:
        json.dump(page, f, indent=2)
        f.write("\n")
    api._history = []
    lines = []
    extra = bare_pod("late", "default", node="node-a")
    api.add_pod(extra)
    mod = copy.deepcopy(extra)
    mod["metadata"]["labels"]["tier"] = "web"
    api.modify_pod(mod)
    api.delete_pod(extra["metadata"]["uid"])
    for rv, typ, pod in api._history:
        lines.append(json.dumps({"type": typ, "object": pod}, separators=(",", ":")))
    lines.append(json.dumps({"type": "BOOKMARK", "object": {
        "kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": str(api._rv),
                                                         "creationTimestamp": None},
        "spec": {"containers": None}, "status": {}}}, separators=(",", ":")))
    api._min_rv = 105
    lines.append(json.dumps(api.too_old(97), separators=(",", ":")))
    with open(os.path.join(outdir, "watch-events.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    import sys
    write_fixtures(sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "kube"))
