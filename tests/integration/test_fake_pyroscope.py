"""The test Pyroscope intake itself (tests/fakes/pyroscope.py), with requests
built by hand: it must accept what the real server accepts and refuse, with
the real status and message, what the real server refuses; otherwise the
exporter's integration tests would prove nothing."""
import gzip
import http.client
import json
import os
import sys
import time
import urllib.parse

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from fakes.pyroscope import FakePyroscope, _pb2_all, fix_go_profile, profile_language  # noqa: E402

push_pb2, types_pb2, profile_pb2, profile_raw_pb2 = _pb2_all()

PERIOD = 10_000_000


def make_profile(nsamples=2, time_nanos=None, sample_type=("cpu", "nanoseconds"),
                 sample_labels=None, depth=2):
    """A valid CPU pprof: nsamples samples over a stack of depth frames."""
    p = profile_pb2.Profile()
    p.string_table.extend(["", "cpu", "nanoseconds", "/usr/bin/app"])

    def s(x):
        if x not in p.string_table:
            p.string_table.append(x)
        return list(p.string_table).index(x)

    vt = p.sample_type.add()
    vt.type, vt.unit = s(sample_type[0]), s(sample_type[1])
    p.period_type.type, p.period_type.unit = s("cpu"), s("nanoseconds")
    p.period = PERIOD
    p.time_nanos = int(time.time() * 1e9) - 15_000_000_000 if time_nanos is None else time_nanos
    p.duration_nanos = 15_000_000_000
    m = p.mapping.add()
    m.id, m.memory_start, m.memory_limit, m.filename = 1, 0x400000, 0x500000, s("/usr/bin/app")
    for i in range(depth):
        f = p.function.add()
        f.id, f.name = i + 1, s("fn%d" % i)
        loc = p.location.add()
        loc.id, loc.mapping_id, loc.address = i + 1, 1, 0x401000 + 16 * i
        loc.line.add().function_id = i + 1
    for k in range(nsamples):
        smp = p.sample.add()
        smp.location_id.extend(range(1, depth + 1))
        smp.value.append((k + 1) * PERIOD)
        for key, val in (sample_labels or {}).items():
            lb = smp.label.add()
            lb.key, lb.str = s(key), s(val)
    return p


def gz(prof):
    return gzip.compress(prof.SerializeToString())


def push_body(series):
    """series: [(label pairs, [raw_profile bytes, ...])]"""
    req = push_pb2.PushRequest()
    for pairs, raws in series:
        ser = req.series.add()
        for n, v in pairs:
            lp = ser.labels.add()
            lp.name, lp.value = n, v
        for i, raw in enumerate(raws):
            smp = ser.samples.add()
            smp.raw_profile = raw
            smp.ID = "734fd599-6865-419e-9475-93276%07d" % i
    return req.SerializeToString()


LABELS = [("__name__", "process_cpu"), ("service_name", "api"), ("host", "node-1")]


def post(fp, path, body, headers=None, timeout=10):
    """(status, headers with lower-case names, body)."""
    u = urllib.parse.urlsplit(fp.url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request("POST", path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def push(fp, series, headers=None, **kw):
    h = {"Content-Type": "application/proto", "Connect-Protocol-Version": "1"}
    h.update(headers or {})
    return post(fp, "/push.v1.PusherService/Push", push_body(series), h, **kw)


def error_of(body):
    e = json.loads(body)
    assert set(e) == {"code", "message"}, e
    return e


@pytest.fixture
def fp():
    with FakePyroscope() as f:
        yield f


# ---- push v1: accepted ---------------------------------------------------

def test_push_accepted(fp):
    prof = make_profile()
    st, h, body = push(fp, [(LABELS, [gz(prof)])])
    assert st == 200 and body == b"" and h["content-type"] == "application/proto"
    assert len(fp.received) == 1
    r = fp.received[0]
    assert r["path"] == "/push.v1.PusherService/Push"
    assert r["labels"] == {"__name__": "process_cpu", "host": "node-1", "service_name": "api"}
    assert r["label_pairs"] == LABELS
    assert r["id"].startswith("734fd599")
    assert r["profile"].time_nanos == prof.time_nanos
    assert [s.value[0] for s in r["profile"].sample] == [PERIOD, 2 * PERIOD]
    assert r["headers"]["content-type"] == "application/proto"
    assert r["tenant"] == "anonymous" and r["truncated_stacks"] == 0
    assert fp.rejected == []


def test_push_plain_profile_and_gzip_body(fp):
    prof = make_profile()
    assert push(fp, [(LABELS, [prof.SerializeToString()])])[0] == 200
    body = gzip.compress(push_body([(LABELS, [gz(prof)])]))
    st, _, _ = post(fp, "/push.v1.PusherService/Push", body,
                    {"Content-Type": "application/proto", "Content-Encoding": "gzip"})
    assert st == 200
    assert len(fp.received) == 2


def test_push_json_codec(fp):
    from google.protobuf import json_format
    req = push_pb2.PushRequest()
    req.ParseFromString(push_body([(LABELS, [gz(make_profile())])]))
    st, _, _ = post(fp, "/push.v1.PusherService/Push", json_format.MessageToJson(req).encode(),
                    {"Content-Type": "application/json"})
    assert st == 200 and len(fp.received) == 1


def test_push_missing_service_name_is_unknown_service(fp):
    assert push(fp, [([("__name__", "process_cpu")], [gz(make_profile())])])[0] == 200
    assert fp.received[0]["labels"]["service_name"] == "unknown_service"


def test_push_sample_labels_become_series(fp):
    prof = make_profile(sample_labels={"comm": "app", "span_id": "abc"})
    lb = prof.sample[0].label.add()  # a number: not a series label
    lb.key = list(prof.string_table).index("comm")
    prof.string_table.append("pid")
    lb.key, lb.num = len(prof.string_table) - 1, 42
    assert push(fp, [(LABELS, [gz(prof)])])[0] == 200
    (group,) = fp.received[0]["sample_series"]
    assert group["comm"] == "app" and "span_id" not in group and "pid" not in group
    assert group["samples"] == 2


def test_push_deep_stack_cut_like_the_server(fp):
    prof = make_profile(nsamples=1, depth=1200)
    assert push(fp, [(LABELS, [gz(prof)])])[0] == 200
    r = fp.received[0]
    assert r["truncated_stacks"] == 1
    ids = list(r["profile"].sample[0].location_id)
    # The server keeps the root side: the leaves are lost.
    assert len(ids) == 1000 and ids[0] == 201 and ids[-1] == 1200


def test_push_empty_profile_accepted_not_stored(fp):
    assert push(fp, [(LABELS, [gz(make_profile(nsamples=0))])])[0] == 200
    assert fp.received == [] and fp.empty == 1


# ---- push v1: refused ------------------------------------------------------

def _many(n):
    return [("__name__", "process_cpu"), ("service_name", "api")] + \
        [("l%02d" % i, "v") for i in range(n - 2)]


def _with(prof, f):
    f(prof)
    return prof


BAD_PUSHES = [
    ("no __name__", [("service_name", "api")], None, "invalid metric name"),
    ("empty __name__", [("__name__", ""), ("service_name", "api")], None, "invalid metric name"),
    ("31 labels", _many(31), None, "has 31 label names; limit 30"),
    ("30 labels + a sample label", _many(30),
     make_profile(sample_labels={"comm": "x"}), "has 31 label names; limit 30"),
    ("name too long", LABELS + [("n" * 1025, "v")], None, "label name too long"),
    ("value too long", LABELS + [("k", "v" * 2049)], None, "label value too long"),
    ("duplicate name", LABELS + [("host", "other")], None, "duplicate label name: 'host'"),
    ("empty name", LABELS + [("", "v")], None, "invalid label name"),
    ("16001 samples", LABELS, make_profile(nsamples=16001), "samples count limit"),
    ("location id 0", LABELS, _with(make_profile(), lambda p: setattr(p.location[0], "id", 0)),
     "location id is 0"),
    ("function id 0", LABELS, _with(make_profile(), lambda p: setattr(p.function[0], "id", 0)),
     "function id is 0"),
    ("string 0 not empty", LABELS,
     _with(make_profile(), lambda p: p.string_table.__setitem__(0, "x")),
     "string 0 should be empty string"),
    ("string index out of range", LABELS,
     _with(make_profile(), lambda p: setattr(p.function[0], "name", 999)),
     "function name string index out of range"),
    ("duplicate location id", LABELS,
     _with(make_profile(), lambda p: setattr(p.location[1], "id", 1)), "duplicate location id"),
    ("dangling location", LABELS,
     _with(make_profile(), lambda p: p.sample[0].location_id.append(77)), "no location 77"),
    ("dangling function", LABELS,
     _with(make_profile(), lambda p: setattr(p.location[0].line[0], "function_id", 55)),
     "no function 55"),
    ("too old", LABELS, make_profile(time_nanos=int((time.time() - 7200) * 1e9)),
     "outside of ingestion window"),
    ("too new", LABELS, make_profile(time_nanos=int((time.time() + 1200) * 1e9)),
     "outside of ingestion window"),
    ("no sample type", LABELS, _with(make_profile(nsamples=0), lambda p: p.ClearField("sample_type")),
     "empty profile"),
    ("dash in sample type", LABELS, make_profile(sample_type=("cpu-time", "nanoseconds")),
     "sample type contains -"),
    ("value count", LABELS, _with(make_profile(), lambda p: p.sample[0].value.append(1)),
     "sample value length mismatch"),
]


@pytest.mark.parametrize("what,labels,prof,message", BAD_PUSHES, ids=[b[0] for b in BAD_PUSHES])
def test_push_refused(fp, what, labels, prof, message):
    st, h, body = push(fp, [(labels, [gz(prof or make_profile())])])
    assert st == 400, (st, body)
    assert h["content-type"] == "application/json"
    e = error_of(body)
    assert e["code"] == "invalid_argument"
    assert message in e["message"], e["message"]
    assert fp.received == []
    assert fp.rejected == [(400, e["message"])]


def test_push_refused_raw_bytes(fp):
    for raw, message in ((b"\x1f\x8bnot gzip", "gzip"), (b"\xff\xff\xff", "proto"),
                         (gzip.compress(b"\0" * (4 * 1024 * 1024 + 1)), "exceeds limit of 4.2 MB")):
        st, _, body = push(fp, [(LABELS, [raw])])
        assert st == 400 and message in error_of(body)["message"], body
    st, _, body = post(fp, "/push.v1.PusherService/Push", b"\xff\xff",
                       {"Content-Type": "application/proto"})
    assert st == 400 and "unmarshal" in error_of(body)["message"]
    st, _, body = push(fp, [])
    assert st == 400 and error_of(body)["message"] == "no profiles received"
    st, _, _ = post(fp, "/push.v1.PusherService/Push", push_body([(LABELS, [gz(make_profile())])]),
                    {"Content-Type": "application/octet-stream"})
    assert st == 415
    st, _, _ = push(fp, [(LABELS, [gz(make_profile())])], {"Connect-Protocol-Version": "2"})
    assert st == 400
    assert fp.received == []


def with_raw_string(prof, raw):
    """prof's bytes with one more function whose name is raw (bytes that
    need not be UTF-8, which the strict profile_pb2 cannot hold)."""
    lenient = profile_raw_pb2.Profile()
    lenient.ParseFromString(prof.SerializeToString())
    lenient.string_table.append(raw)
    f = lenient.function.add()
    f.id, f.name = 999, len(lenient.string_table) - 1
    return gzip.compress(lenient.SerializeToString())


def test_push_invalid_utf8_refused_like_the_server(fp):
    """ValidateProfile: "invalid utf8 string hex: <hex>" (400), after
    strings over 65,535 bytes were cut to their last 65,535 bytes."""
    name = b"jit_spin_\xff\xfe_bad\xc3"
    st, _, body = push(fp, [(LABELS, [with_raw_string(make_profile(), name)])])
    assert st == 400, body
    assert error_of(body)["message"].endswith(": invalid utf8 string hex: " + name.hex())
    # 'a' + 40,000 two-byte characters: the byte-wise cut splits one.
    long = b"a" + "\u00e9".encode() * 40000
    st, _, body = push(fp, [(LABELS, [with_raw_string(make_profile(), long)])])
    assert st == 400 and "invalid utf8 string hex: a9c3a9" in error_of(body)["message"], body[:80]
    assert fp.received == []
    # Cut on a character boundary: stored, keeping the tail.
    st, _, body = push(fp, [(LABELS, [with_raw_string(make_profile(), long[1:] + b"z")])])
    assert st == 200, body[:200]
    names = list(fp.received[0]["profile"].string_table)
    assert names[-1] == "\u00e9" * 32767 + "z"


def test_push_partial_batch(fp):
    """The valid profile of a batch is stored, the request still fails."""
    st, _, body = push(fp, [(LABELS, [gz(make_profile())]),
                            ([("service_name", "b")], [gz(make_profile())])])
    assert st == 400 and "invalid metric name" in error_of(body)["message"]
    assert [r["labels"]["service_name"] for r in fp.received] == ["api"]


def test_label_sanitization_mode():
    with FakePyroscope(label_sanitization=True) as f:
        assert push(f, [(LABELS + [("pod.name", "x")], [gz(make_profile())])])[0] == 200
        assert f.received[0]["sample_series"][0]["pod_name"] == "x"
        st, _, body = push(f, [(LABELS + [("a-b", "x")], [gz(make_profile())])])
        assert st == 400 and "invalid label name 'a-b'" in error_of(body)["message"]
    # The server's default: any UTF-8 name.
    with FakePyroscope() as f:
        assert push(f, [(LABELS + [("a-b", "x")], [gz(make_profile())])])[0] == 200


def test_rate_limit_burst():
    """A profile bigger than the 2 MiB burst never passes: 429."""
    prof = make_profile(depth=1)
    for i in range(50):
        f = prof.function.add()
        prof.string_table.append(("%02d" % i) * 30000)
        f.id, f.name = 100 + i, len(prof.string_table) - 1
    raw = gz(prof)
    with FakePyroscope() as f:
        st, _, body = push(f, [(LABELS, [raw])])
        assert st == 429 and error_of(body)["code"] == "resource_exhausted"
        assert "push rate limit" in error_of(body)["message"]
    with FakePyroscope(rate_limit=False) as f:
        assert push(f, [(LABELS, [raw])])[0] == 200


def test_active_series_limit():
    """The ingester's limit: a label set per sample type is one series; a
    new one past the limit is 429 with the server's message, an active one
    still passes, and series unused for series_timeout free their place."""
    def labels(svc):
        return [("__name__", "process_cpu"), ("service_name", svc)]

    with FakePyroscope(series_limit=4, series_timeout=1.0) as f:
        for i in range(4):
            assert push(f, [(labels("s%d" % i), [gz(make_profile())])])[0] == 200
        st, _, body = push(f, [(labels("s4"), [gz(make_profile())])])
        e = error_of(body)
        assert st == 429 and e["code"] == "resource_exhausted", body
        assert e["message"].endswith(
            "Maximum active series limit exceeded (4/4), reduce the number of active streams "
            "(reduce labels or reduce label values), or contact your administrator to see if "
            "the limit can be increased"), e["message"]
        assert push(f, [(labels("s0"), [gz(make_profile())])])[0] == 200
        # A sample label makes a label set of its own.
        prof = make_profile(sample_labels={"comm": "x"})
        assert push(f, [(labels("s1"), [gz(prof)])])[0] == 429
        assert len(f.received) == 5
        time.sleep(1.2)
        assert push(f, [(labels("s4"), [gz(make_profile())])])[0] == 200
    # Two sample types: two series per label set.
    with FakePyroscope(series_limit=3) as f:
        two = make_profile()
        vt = two.sample_type.add()
        vt.type, vt.unit = len(two.string_table), len(two.string_table) + 1
        two.string_table.extend(["samples", "count"])
        for smp in two.sample:
            smp.value.append(1)
        assert push(f, [(labels("a"), [gz(two)])])[0] == 200
        assert push(f, [(labels("b"), [gz(two)])])[0] == 429
        assert push(f, [(labels("c"), [gz(make_profile())])])[0] == 429
    # The server's default.
    with FakePyroscope() as f:
        assert f.series_limit == 5000


def path_profile(windows, strings=("main.go",), sample_type="cpu"):
    """A profile over one call path f0 (root) .. f128 (leaf), location i+1
    = function i: one sample per window [a, b) of the path (extra leaf-side
    location ids first)."""
    p = profile_pb2.Profile()
    p.string_table.extend(["", sample_type, "nanoseconds"] + list(strings))
    vt = p.sample_type.add()
    vt.type, vt.unit = 1, 2
    p.period_type.type, p.period_type.unit = 1, 2
    p.period = PERIOD
    p.time_nanos = int(time.time() * 1e9) - 15_000_000_000
    for i in range(129):
        p.string_table.append("f%d" % i)
        f = p.function.add()
        f.id, f.name = i + 1, len(p.string_table) - 1
        loc = p.location.add()
        loc.id = i + 1
        loc.line.add().function_id = i + 1
    for a, b, extra in windows:
        smp = p.sample.add()
        smp.location_id.extend(list(extra) + [i + 1 for i in reversed(range(a, b))])
        smp.value.append(PERIOD)
    return p


# Rooted stacks of 24, 22 (+1 leaf) and 64 frames, and three that lack the
# 7 to 9 root-most frames of the path.
CUT = [(0, 24, ()), (9, 58, ()), (8, 57, ()), (7, 56, ()), (0, 22, (129,)), (0, 64, ())]


def test_language_guess():
    """pyroscope_spy first, else the first string with a language's prefix
    or suffix, in string table order."""
    assert profile_language([], path_profile([])) == "go"
    assert profile_language([("pyroscope_spy", "pyspy")], path_profile([])) == "python"
    assert profile_language([("pyroscope_spy", "ignis")], path_profile([])) == "go"
    assert profile_language([], path_profile([], strings=("app.py", "main.go"))) == "python"
    assert profile_language([], path_profile([], strings=("/usr/local/go/src",))) == "go"
    assert profile_language([], path_profile([], strings=("main.c",))) == "unknown"


def test_fix_go_profile_repairs_cut_stacks():
    """The stacks that miss their root get it from the deepest stack that
    shares 16 locations with them; rooted ones stay as they are."""
    p = path_profile(CUT)
    assert fix_go_profile(p) == 3
    got = sorted(list(s.location_id) for s in p.sample)
    want = sorted([[i + 1 for i in reversed(range(0, b))] for _, b, _ in CUT[1:4]] +
                  [[i + 1 for i in reversed(range(0, 24))], [129] + list(range(22, 0, -1)),
                   list(range(64, 0, -1))])
    assert got == want
    # Nothing 60 deep: not taken for cut at all.
    assert fix_go_profile(path_profile(CUT[:-1])) == 0
    # Not a CPU profile.
    assert fix_go_profile(path_profile(CUT, sample_type="wall")) == 0
    # Type parameters leave the names.
    p = path_profile([], strings=("main.go", "pkg.Map[go.shape.int,go.shape.string].Get"))
    fix_go_profile(p)
    assert "pkg.Map.Get" in p.string_table


def test_push_go_profile_repaired_like_the_server(fp):
    assert push(fp, [(LABELS, [gz(path_profile(CUT))])])[0] == 200
    r = fp.received[0]
    assert r["language"] == "go" and r["repaired_stacks"] == 3
    assert all(s.location_id[-1] == 1 for s in r["profile"].sample)
    # Labelled as another language, it is left alone.
    assert push(fp, [(LABELS + [("pyroscope_spy", "rbspy")], [gz(path_profile(CUT))])])[0] == 200
    assert fp.received[1]["language"] == "ruby" and fp.received[1]["repaired_stacks"] == 0


# ---- tenant and credentials -------------------------------------------------

def test_tenant():
    with FakePyroscope(tenant="team-a") as f:
        st, _, body = push(f, [(LABELS, [gz(make_profile())])])
        assert st == 401 and error_of(body) == {"code": "unauthenticated", "message": "no org id"}
        st, _, _ = post(f, "/ingest?name=app&format=pprof", gz(make_profile()))
        assert st == 401
        assert push(f, [(LABELS, [gz(make_profile())])], {"X-Scope-OrgID": "team-b"})[0] == 401
        assert push(f, [(LABELS, [gz(make_profile())])], {"X-Scope-OrgID": "team-a"})[0] == 200
        assert f.received[0]["tenant"] == "team-a"


def test_basic_auth_and_bearer():
    import base64
    with FakePyroscope(basic_auth=("user", "secret")) as f:
        assert push(f, [(LABELS, [gz(make_profile())])])[0] == 401
        bad = "Basic " + base64.b64encode(b"user:wrong").decode()
        assert push(f, [(LABELS, [gz(make_profile())])], {"Authorization": bad})[0] == 401
        good = "Basic " + base64.b64encode(b"user:secret").decode()
        assert push(f, [(LABELS, [gz(make_profile())])], {"Authorization": good})[0] == 200
    with FakePyroscope(bearer_token="tok") as f:
        assert push(f, [(LABELS, [gz(make_profile())])], {"Authorization": "Bearer x"})[0] == 401
        assert push(f, [(LABELS, [gz(make_profile())])], {"Authorization": "Bearer tok"})[0] == 200


# ---- scripted failures -------------------------------------------------------

def test_fail_next(fp):
    fp.fail_next(2, 503)
    fp.fail_next(1, 429, retry_after=2)
    fp.fail_next(1, 400, message="invalid metric name")
    got = []
    for _ in range(5):
        st, h, body = push(fp, [(LABELS, [gz(make_profile())])])
        got.append((st, h.get("retry-after")))
        if st != 200:
            assert error_of(body)["message"]
    assert got == [(503, None), (503, None), (429, "2"), (400, None), (200, None)]
    assert [s for s, _ in fp.rejected] == [503, 503, 429, 400]
    assert fp.rejected[3][1] == "invalid metric name"
    assert len(fp.rejected_times) == 4 and len(fp.received) == 1
    assert [r["status"] for r in fp.requests] == [503, 503, 429, 400, 200]


def test_hang_and_close(fp):
    fp.hang_next(1, seconds=0.5)
    t = time.monotonic()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        push(fp, [(LABELS, [gz(make_profile())])])
    assert time.monotonic() - t >= 0.45
    fp.hang_next(1)
    with pytest.raises(TimeoutError):
        push(fp, [(LABELS, [gz(make_profile())])], timeout=1)
    fp.close_next(1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        push(fp, [(LABELS, [gz(make_profile())])])
    assert push(fp, [(LABELS, [gz(make_profile())])])[0] == 200
    assert fp.hung == 2 and fp.closed == 1 and len(fp.received) == 1


# ---- legacy /ingest ---------------------------------------------------------

def ingest(fp, name, body, extra="", ctype="application/octet-stream", **q):
    now = int(time.time())
    params = {"name": name, "from": str(now - 10), "until": str(now), "format": "pprof",
              "spyName": "nodespy"}
    params.update(q)
    qs = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None},
                                quote_via=urllib.parse.quote)
    return post(fp, "/ingest?" + qs + extra, body, {"Content-Type": ctype})


def test_ingest_accepted(fp):
    name = ("checkout-api{otel.scope.name=com.grafana.pyroscope/nodejs,"
            "process.runtime.name=nodejs,env=prod-us, git_sha = abc123 }")
    prof = make_profile()
    st, _, body = ingest(fp, name, gz(prof))
    assert st == 200 and body == b""
    r = fp.received[0]
    assert r["path"] == "/ingest"
    assert r["labels"] == {
        "__name__": "process_cpu", "__delta__": "false", "pyroscope_spy": "nodespy",
        "service_name": "checkout-api", "otel.scope.name": "com.grafana.pyroscope/nodejs",
        "process.runtime.name": "nodejs", "env": "prod-us", "git_sha": "abc123",
    }
    assert r["profile"].time_nanos == prof.time_nanos
    assert r["query"]["format"] == "pprof"
    # Plain pprof too, and time_nanos taken from "from" when missing.
    prof = make_profile(time_nanos=0)
    now = int(time.time())
    assert ingest(fp, "app", prof.SerializeToString(), **{"from": str(now * 1000)})[0] == 200
    assert abs(fp.received[1]["profile"].time_nanos - now * 1e9) < 1e6


INGEST_400 = [
    ("", {}, "service name is required"),
    ("my app", {}, "invalid service name"),
    ("app{a-b=1}", {}, "invalid label name"),
    ("app{=1}", {}, "label name is required"),
    ("app", {"from": "now-10s"}, "digits only"),
    ("app", {"from": "12345678901"}, "10, 13, 16 or 19 digits"),
    ("app", {"until": "1.5"}, "digits only"),
    ("app", {"format": None}, "format=pprof"),
    ("app", {"format": "jfr"}, "format=pprof"),
    ("app", {"sampleRate": "fast"}, "sampleRate"),
]


@pytest.mark.parametrize("name,q,message", INGEST_400, ids=[m for _, _, m in INGEST_400])
def test_ingest_400(fp, name, q, message):
    st, _, body = ingest(fp, name, gz(make_profile()), **q)
    assert st == 400, body
    assert message in error_of(body)["message"]
    assert fp.received == []


def test_ingest_422(fp):
    # A multipart body with format=pprof is read as a pprof, and fails.
    mp = (b"--b\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"p\"\r\n\r\n" +
          gz(make_profile()) + b"\r\n--b--\r\n")
    st, _, body = ingest(fp, "app", mp, ctype="multipart/form-data; boundary=b")
    assert st == 422 and "parsing IngestInput-pprof failed" in error_of(body)["message"]
    st, _, body = ingest(fp, "app", gz(make_profile(time_nanos=int((time.time() - 7200) * 1e9))))
    assert st == 422 and "outside of ingestion window" in error_of(body)["message"]
    st, _, body = ingest(fp, "app", gz(make_profile(nsamples=16001)))
    assert st == 422 and "samples count limit" in error_of(body)["message"]
    assert fp.received == []


def test_other_paths(fp):
    assert post(fp, "/push", b"")[0] == 404
    u = urllib.parse.urlsplit(fp.url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    c.request("GET", "/push.v1.PusherService/Push")
    assert c.getresponse().status == 405
    c.close()
