"""The deploy files: the Kubernetes manifests (structure, least privilege, a
ConfigMap the agent accepts), the systemd unit (systemd-analyze verify),
the Dockerfile (every library the binary links comes from a package its
final stage installs) and `make install`."""
import os
import re
import shutil
import stat
import subprocess
import tempfile

import pytest
import yaml

from conftest import IGNIS, ROOT

DEPLOY = os.path.join(ROOT, "deploy")
CAPS = {"BPF", "PERFMON", "SYS_PTRACE", "SYSLOG", "DAC_READ_SEARCH", "CHECKPOINT_RESTORE"}


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="ignis-deploy-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def manifests():
    with open(os.path.join(DEPLOY, "daemonset.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    return {d["kind"]: d for d in docs}, docs


def walk(obj):
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk(v)


def test_manifests_structure(manifests):
    by, docs = manifests
    assert sorted(d["kind"] for d in docs) == sorted(
        ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap",
         "DaemonSet"])
    ns = by["Namespace"]["metadata"]["name"]
    for d in docs:
        if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert d["metadata"]["namespace"] == ns, d["kind"]

    # RBAC: pods, read only, nothing else.
    rules = by["ClusterRole"]["rules"]
    assert rules == [{"apiGroups": [""], "resources": ["pods"],
                      "verbs": ["get", "list", "watch"]}]
    binding = by["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == by["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount",
                                    "name": by["ServiceAccount"]["metadata"]["name"],
                                    "namespace": ns}]

    ds = by["DaemonSet"]
    pod = ds["spec"]["template"]["spec"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= \
        ds["spec"]["template"]["metadata"]["labels"].items()
    assert pod["serviceAccountName"] == by["ServiceAccount"]["metadata"]["name"]
    assert pod["hostPID"] is True
    assert not pod.get("hostNetwork")
    assert pod["priorityClassName"] in ("system-node-critical", "system-cluster-critical")
    assert {"operator": "Exists"} in pod["tolerations"]

    # Nowhere privileged; the capability set and nothing more.
    for o in walk(docs):
        assert o.get("privileged") in (None, False)
        assert o.get("allowPrivilegeEscalation") in (None, False)
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert set(sc["capabilities"]["add"]) == CAPS
    assert "SYS_ADMIN" not in sc["capabilities"]["add"]

    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert "secretKeyRef" in env["DD_API_KEY"]["valueFrom"]
    for e in c["env"]:
        assert "value" not in e or not re.search(r"key|token|password", e["name"], re.I)

    for res in ("requests", "limits"):
        assert "memory" in c["resources"][res]
    assert "cpu" in c["resources"]["requests"]

    # Probes on the health endpoint, on the port the metrics listen on.
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        g = c[probe]["httpGet"]
        assert g["path"] == "/healthz"
        assert ports.get(g["port"], g["port"]) == 9464

    # Writable: the spool and the debuginfod cache (the root is read-only).
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    for path in ("/var/lib/ignis", "/var/cache/ignis"):
        assert path in mounts and not mounts[path].get("readOnly"), path
        v = vols[mounts[path]["name"]]
        assert "hostPath" in v or "emptyDir" in v
    cm = vols[mounts["/etc/ignis"]["name"]]["configMap"]["name"]
    assert cm == by["ConfigMap"]["metadata"]["name"]


def test_configmap_config_loads(manifests, tmp):
    """The agent accepts the shipped configuration, as the pod would see it."""
    by, _ = manifests
    text = by["ConfigMap"]["data"]["ignis.yaml"]
    pw = os.path.join(tmp, "pyroscope-password")
    with open(pw, "w") as f:
        f.write("pw\n")
    path = os.path.join(tmp, "ignis.yaml")
    with open(path, "w") as f:
        f.write(text.replace("/etc/ignis/secrets/pyroscope-password", pw))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "KUBERNETES_"))}
    env.update(NODE_NAME="node-a", DD_API_KEY="dd-key-from-secret")
    r = subprocess.run([IGNIS, "agent", "--config", path, "--print-config"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    eff = yaml.safe_load(r.stdout)
    assert eff["metrics"]["listen"].endswith(":9464")
    assert not eff["metrics"]["listen"].startswith("127."), \
        "the kubelet probes the pod IP: 127.0.0.1 would fail them"
    assert "dd-key-from-secret" not in r.stdout
    assert eff["host"] == "node-a"
    # The secret file the ConfigMap names is the one the Secret volume mounts.
    (c,) = by["DaemonSet"]["spec"]["template"]["spec"]["containers"]
    assert any(m["mountPath"] == "/etc/ignis/secrets" for m in c["volumeMounts"])
    assert "/etc/ignis/secrets/pyroscope-password" in text


def unit_lines(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")):
                k, _, v = line.partition("=")
                out.setdefault(k, []).append(v)
    return out


def test_systemd_unit_verifies(tmp):
    unit = os.path.join(DEPLOY, "ignis.service")
    kv = unit_lines(unit)
    assert kv["ExecStart"] == ["/usr/local/bin/ignis agent --config /etc/ignis/ignis.yaml"]
    assert kv["Type"] in (["notify"], ["exec"])
    assert kv["NoNewPrivileges"] == ["yes"]
    assert kv["ProtectSystem"] == ["strict"]
    assert kv["ProtectHome"] == ["read-only"]
    assert kv["StateDirectory"] == ["ignis"] and kv["CacheDirectory"] == ["ignis"]
    assert kv["Restart"] == ["on-failure"]
    assert kv["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    want = {"CAP_" + c for c in CAPS}
    assert set(kv["CapabilityBoundingSet"][0].split()) == want
    assert set(kv["AmbientCapabilities"][0].split()) == want

    # verify needs the ExecStart binary to exist: point it at the built one.
    copy = os.path.join(tmp, "ignis.service")
    with open(unit) as f:
        text = f.read().replace("/usr/local/bin/ignis", os.path.abspath(IGNIS))
    with open(copy, "w") as f:
        f.write(text)
    r = subprocess.run(["systemd-analyze", "verify", copy], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    # Unknown keys are only warned about: none allowed.
    assert "ignis.service" not in r.stderr, r.stderr


def dockerfile_stages():
    stages = []
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        text = re.sub(r"\\\n", " ", f.read())
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word == "FROM":
            stages.append({"from": rest.split(), "lines": []})
        else:
            stages[-1]["lines"].append((word, rest))
    return stages


def test_dockerfile():
    stages = dockerfile_stages()
    assert len(stages) == 2
    build, final = stages
    assert build["from"][0].startswith("debian:bookworm") and build["from"][1:] == ["AS",
                                                                                     "build"]
    assert final["from"] == ["debian:bookworm-slim"]
    assert any(w == "RUN" and "make" in r for w, r in build["lines"])

    # The final stage copies the binary and nothing else.
    copies = [r for w, r in final["lines"] if w in ("COPY", "ADD")]
    assert copies == ["--from=build /out/ignis /usr/bin/ignis"]
    entry = [r for w, r in final["lines"] if w == "ENTRYPOINT"]
    assert entry == ['["/usr/bin/ignis", "agent"]']
    assert ("USER", "root") in final["lines"]

    installed = set()
    for w, r in final["lines"]:
        if w == "RUN" and "apt-get install" in r:
            words = r.split("apt-get install", 1)[1].split("&&")[0].split()
            installed |= {x for x in words if not x.startswith("-")}
    assert installed

    # Every library the binary needs directly, found where this machine
    # has it, comes from a package the final stage installs (apt brings
    # their own dependencies). libc comes with the base image.
    out = subprocess.run(["readelf", "-d", IGNIS], capture_output=True, text=True,
                         check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out)
    assert len(needed) > 10
    ldd = subprocess.run(["ldd", IGNIS], capture_output=True, text=True, check=True).stdout
    where = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.M))
    # And those it opens when first used (base/dynlib.h), which the
    # dynamic linker's cache finds.
    opened = set()
    for d in ("http", "symbolizer", "agent"):
        for name in os.listdir(os.path.join(ROOT, d)):
            if name.endswith(".c"):
                with open(os.path.join(ROOT, d, name)) as f:
                    opened |= set(re.findall(r'DYNLIB_DEFINE\(\w+, "([^"]+)"', f.read()))
    assert {"libcurl.so.4", "libdebuginfod.so.1", "libmicrohttpd.so.12"} <= opened
    assert not opened & set(needed)
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True,
                           check=True).stdout
    for lib in sorted(opened):
        found = re.search(r"^\s*%s \(libc6[^)]*\) => (/\S+)" % re.escape(lib), cache, re.M)
        assert found, "%s is not installed here" % lib
        where[lib] = found.group(1)
    needed += sorted(opened)
    missing = []
    for lib in needed:
        if lib in ("libc.so.6", "libm.so.6", "libpthread.so.0"):
            continue
        path = os.path.realpath(where[lib])
        q = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if q.returncode:   # merged /usr: dpkg knows the /lib path
            q = subprocess.run(["dpkg", "-S", path.replace("/usr/lib/", "/lib/", 1)],
                               capture_output=True, text=True)
        assert q.returncode == 0, "no package owns %s" % path
        pkg = q.stdout.split(":")[0]
        if pkg not in installed:
            missing.append((lib, pkg))
    assert not missing, "the final stage lacks %s" % missing


def make_install(destdir, prefix):
    build = os.path.dirname(os.path.abspath(IGNIS))
    # -o: install what is built; never rebuild it from a tree in flux.
    return subprocess.run(["make", "-C", ROOT, "--no-print-directory", "BUILD=" + build,
                           "-o", os.path.join(build, "ignis"), "install",
                           "DESTDIR=" + destdir, "PREFIX=" + prefix],
                          capture_output=True, text=True, timeout=120)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_make_install(tmp):
    dest = os.path.join(tmp, "root")
    r = make_install(dest, "/usr")
    assert r.returncode == 0, r.stdout + r.stderr
    files = sorted(os.path.relpath(os.path.join(d, f), dest)
                   for d, _, fs in os.walk(dest) for f in fs)
    assert files == ["etc/ignis/ignis.yaml", "lib/systemd/system/ignis.service",
                     "usr/bin/ignis"]
    assert mode(os.path.join(dest, "usr/bin/ignis")) == 0o755
    assert mode(os.path.join(dest, "lib/systemd/system/ignis.service")) == 0o644
    assert mode(os.path.join(dest, "etc/ignis/ignis.yaml")) == 0o644
    with open(os.path.join(dest, "usr/bin/ignis"), "rb") as a, open(IGNIS, "rb") as b:
        assert a.read() == b.read()
    kv = unit_lines(os.path.join(dest, "lib/systemd/system/ignis.service"))
    assert kv["ExecStart"] == ["/usr/bin/ignis agent --config /etc/ignis/ignis.yaml"]
    with open(os.path.join(DEPLOY, "ignis.yaml")) as a, \
            open(os.path.join(dest, "etc/ignis/ignis.yaml")) as b:
        assert a.read() == b.read()

    # A reinstall keeps the configuration someone edited.
    cfg = os.path.join(dest, "etc/ignis/ignis.yaml")
    with open(cfg, "w") as f:
        f.write("# mine\n")
    r = make_install(dest, "/usr")
    assert r.returncode == 0
    with open(cfg) as f:
        assert f.read() == "# mine\n"

    dest2 = os.path.join(tmp, "local")
    r = make_install(dest2, "/usr/local")
    assert r.returncode == 0, r.stderr
    assert os.path.isfile(os.path.join(dest2, "usr/local/bin/ignis"))
    unit = os.path.join(dest2, "usr/local/lib/systemd/system/ignis.service")
    kv = unit_lines(unit)
    assert kv["ExecStart"] == ["/usr/local/bin/ignis agent --config /etc/ignis/ignis.yaml"]
