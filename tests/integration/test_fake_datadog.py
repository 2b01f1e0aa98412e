"""The test Datadog intake itself (tests/fakes/datadog.py), with requests built
by hand: it must accept what the real intake accepts (the request dd-trace
really sends, reference/WIRE.md, and the shape ignis sends) and refuse, with
the real status, what the real intake refuses; otherwise the exporter's
integration tests would prove nothing."""
import base64
import gzip
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse

import pytest
import zstandard

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from fakes.datadog import (AGENT_PATH, AGENTLESS_PATH, SKIP_BYTES,  # noqa: E402
                           FakeDatadog, pb2)

profile_pb2 = pb2()[2]

PERIOD = 10_000_000
BOUNDARY = "1c61009b03e68ac3"
TAGS = ("service:checkout-api,env:prod,version:abc123,host:node-1,runtime:ebpf,"
        "profiler_version:0.1.0,profile_seq:0")


def make_profile(sample_types=(("cpu-samples", "count"), ("cpu-time", "nanoseconds")),
                 period_type=("cpu-time", "nanoseconds"), nsamples=2, depth=2, labels=None):
    """A valid pprof: nsamples samples over a stack of depth frames."""
    p = profile_pb2.Profile()
    p.string_table.append("")

    def s(x):
        if x not in p.string_table:
            p.string_table.append(x)
        return list(p.string_table).index(x)

    for t, u in sample_types:
        vt = p.sample_type.add()
        vt.type, vt.unit = s(t), s(u)
    p.period_type.type, p.period_type.unit = s(period_type[0]), s(period_type[1])
    p.period = PERIOD
    p.time_nanos = int(time.time() * 1e9) - 60_000_000_000
    p.duration_nanos = 60_000_000_000
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
        for j in range(len(sample_types)):
            smp.value.append((k + 1) * (PERIOD if j else 1))
        for key, val in (labels or {}).items():
            lb = smp.label.add()
            lb.key = s(key)
            if isinstance(val, int):
                lb.num = val
            else:
                lb.str = s(val)
    return p


def zst(prof):
    return zstandard.ZstdCompressor().compress(prof.SerializeToString())


def gz(prof):
    return gzip.compress(prof.SerializeToString())


def event(**kw):
    e = {"start": "2026-11-21T15:44:04.032Z", "end": "2026-11-21T15:45:04.100Z",
         "attachments": ["cpu.pprof"], "tags_profiler": TAGS, "family": "ebpf",
         "version": "4"}
    for k, v in kw.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def multipart(parts, boundary=BOUNDARY, eol=b"\r\n"):
    """parts: [(name, filename, content type, bytes)] -> body."""
    out = b""
    for name, filename, ctype, data in parts:
        out += b"--" + boundary.encode() + eol
        disp = 'Content-Disposition: form-data; name="%s"' % name
        if filename is not None:
            disp += '; filename="%s"' % filename
        out += disp.encode() + eol
        if ctype is not None:
            out += ("Content-Type: %s" % ctype).encode() + eol
        out += eol + data + eol
    return out + b"--" + boundary.encode() + b"--" + eol


def ignis_parts(ev=None, prof=None, compress=zst):
    ev = event() if ev is None else ev
    raw = ev if isinstance(ev, bytes) else json.dumps(ev).encode()
    return [("event", "event.json", "application/json", raw),
            ("cpu.pprof", "cpu.pprof", "application/octet-stream",
             compress(prof if prof is not None else make_profile()))]


def post(fd, path, body, headers=None, chunked=False, timeout=10):
    """(status, headers with lower-case names, body)."""
    u = urllib.parse.urlsplit(fd.url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        if chunked:
            c.request("POST", path, body=iter([body[:100], body[100:]]),
                      headers=headers or {}, encode_chunked=True)
        else:
            c.request("POST", path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def upload(fd, parts=None, path=AGENT_PATH, headers=None, boundary=BOUNDARY, **kw):
    h = {"Content-Type": "multipart/form-data; boundary=%s" % boundary,
         "DD-EVP-ORIGIN": "ignis", "DD-EVP-ORIGIN-VERSION": "0.1.0"}
    h.update(headers or {})
    body = multipart(parts if parts is not None else ignis_parts(), boundary)
    return post(fd, path, body, h, **kw)


@pytest.fixture
def fd():
    with FakeDatadog(api_key="0123456789abcdef0123456789abcdef") as f:
        yield f


def refused(fd, status, *, parts=None, **kw):
    """Sends the upload and asserts it was refused with status and stored
    nothing; the fake's message."""
    st, h, body = upload(fd, parts, **kw)
    assert st == status, (st, body)
    assert fd.received == []
    msg = json.loads(body)["errors"][0]
    assert fd.rejected[-1] == (status, msg)
    return msg


# ---- accepted ---------------------------------------------------------------

def test_ignis_shape_through_agent(fd):
    prof = make_profile(labels={"process_id": 42, "thread name": "worker"})
    st, h, body = upload(fd, ignis_parts(prof=prof))
    assert st == 200 and h["content-type"] == "application/json"
    assert len(fd.received) == 1
    r = fd.received[0]
    assert r["path"] == AGENT_PATH
    assert r["headers"]["dd-evp-origin"] == "ignis"
    assert r["event"]["family"] == "ebpf" and r["event"]["version"] == "4"
    assert r["tag_list"] == TAGS.split(",")
    assert r["tags"]["service"] == "checkout-api" and r["tags"]["profile_seq"] == "0"
    assert r["service"] == "checkout-api"
    assert r["attachment_compression"] == "zstd"
    assert r["end"] - r["start"] == pytest.approx(60.068)
    p = r["profile"]
    st_ = p.string_table
    assert [(st_[t.type], st_[t.unit]) for t in p.sample_type] == \
        [("cpu-samples", "count"), ("cpu-time", "nanoseconds")]
    assert sum(s.value[0] for s in p.sample) == 3
    assert {st_[lb.key] for lb in p.sample[0].label} == {"process_id", "thread name"}


def test_gzip_attachment(fd):
    st, _, _ = upload(fd, ignis_parts(compress=gz))
    assert st == 200
    assert fd.received[0]["attachment_compression"] == "gzip"


def test_plain_attachment(fd):
    st, _, _ = upload(fd, ignis_parts(compress=lambda p: p.SerializeToString()))
    assert st == 200
    assert fd.received[0]["attachment_compression"] == "none"


def test_agentless_key(fd):
    key = {"DD-API-KEY": "0123456789abcdef0123456789abcdef"}
    st, _, body = upload(fd, path=AGENTLESS_PATH, headers=key)
    assert st == 202 and len(fd.received) == 1
    assert fd.received[0]["path"] == AGENTLESS_PATH


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_agentless_bad_key_403(fd, key):
    headers = {"DD-API-KEY": key} if key is not None else {}
    refused(fd, 403, path=AGENTLESS_PATH, headers=headers)


def test_agent_ignores_key(fd):
    """The agent adds its own key: a client's (or none) is no matter."""
    assert upload(fd)[0] == 200
    assert upload(fd, headers={"DD-API-KEY": "whatever"})[0] == 200


def test_dd_trace_request(fd):
    """The request dd-trace-js 5.132.0 really sent (WIRE.md): chunked, three
    gzip attachments none of which is cpu.pprof, extra event fields and an
    entity id header."""
    wall = make_profile(sample_types=(("sample", "count"), ("wall", "nanoseconds")),
                        period_type=("wall", "nanoseconds"))
    events = make_profile(sample_types=(("sample", "count"),), period_type=("sample", "count"))
    space = make_profile(sample_types=(("objects", "count"), ("space", "bytes")),
                         period_type=("space", "bytes"))
    ev = {"attachments": ["wall.pprof", "events.pprof", "space.pprof"],
          "start": "2026-11-21T15:44:04.032Z", "end": "2026-11-21T15:44:14.100Z",
          "family": "node", "version": "4",
          "tags_profiler": "language:javascript,runtime:nodejs,runtime_arch:x64,"
                           "runtime_os:Linux,runtime_version:v20.20.2,process_id:77,"
                           "profiler_version:5.132.0,profiler-version:5.132.0,"
                           "service:checkout-api,env:prod,version:abc123,"
                           "runtime-id:d5a8ded7-4d57-4c1e-9f5b-0c2a1c1d8e11,profile_seq:1",
          "endpoint_counts": {}, "info": {"profiler": {"activation": "manual"}},
          "process_tags": "entrypoint.name:server"}
    parts = [("event", "event.json", "application/json", json.dumps(ev).encode()),
             ("wall.pprof", "wall.pprof", "application/octet-stream", gz(wall)),
             ("events.pprof", "events.pprof", "application/octet-stream", gz(events)),
             ("space.pprof", "space.pprof", "application/octet-stream", gz(space))]
    st, _, _ = upload(fd, parts, headers={"DD-EVP-ORIGIN": "dd-trace-js",
                                          "DD-EVP-ORIGIN-VERSION": "5.132.0",
                                          "Datadog-Entity-ID": "in-1"}, chunked=True)
    assert st == 200, fd.rejected
    r = fd.received[0]
    assert set(r["profiles"]) == {"wall.pprof", "events.pprof", "space.pprof"}
    assert r["compressions"] == {"wall.pprof": "gzip", "events.pprof": "gzip",
                                 "space.pprof": "gzip"}
    assert r["tags"]["runtime"] == "nodejs"
    assert r["headers"]["datadog-entity-id"] == "in-1"


def test_timezone_offset_and_quoted_boundary(fd):
    ev = event(start="2026-11-21T16:44:04+01:00", end="2026-11-21T15:45:04.1Z")
    body = multipart(ignis_parts(ev), "a'b(c)")
    st, _, _ = post(fd, AGENT_PATH, body,
                    {"Content-Type": 'multipart/form-data; boundary="a\'b(c)"'})
    assert st == 200, fd.rejected
    assert fd.received[0]["end"] - fd.received[0]["start"] == pytest.approx(60.1)


# ---- refused: the body --------------------------------------------------------

def test_not_multipart(fd):
    body = multipart(ignis_parts())
    st, _, _ = post(fd, AGENT_PATH, body, {"Content-Type": "application/json"})
    assert st == 400 and fd.received == []


def test_no_boundary(fd):
    body = multipart(ignis_parts())
    st, _, _ = post(fd, AGENT_PATH, body, {"Content-Type": "multipart/form-data"})
    assert st == 400 and fd.received == []


def test_wrong_boundary(fd):
    body = multipart(ignis_parts(), "other")
    st, _, _ = post(fd, AGENT_PATH, body,
                    {"Content-Type": "multipart/form-data; boundary=%s" % BOUNDARY})
    assert st == 400 and fd.received == []


def test_lf_delimiters(fd):
    body = multipart(ignis_parts(), eol=b"\n")
    st, _, _ = post(fd, AGENT_PATH, body,
                    {"Content-Type": "multipart/form-data; boundary=%s" % BOUNDARY})
    assert st == 400 and fd.received == []


def test_unclosed_body(fd):
    body = multipart(ignis_parts())
    body = body[:body.rindex(b"--" + BOUNDARY.encode())]
    st, _, _ = post(fd, AGENT_PATH, body,
                    {"Content-Type": "multipart/form-data; boundary=%s" % BOUNDARY})
    assert st == 400 and fd.received == []


def test_part_without_disposition(fd):
    body = (b"--" + BOUNDARY.encode() + b"\r\nContent-Type: application/json\r\n\r\n{}\r\n--"
            + BOUNDARY.encode() + b"--\r\n")
    st, _, _ = post(fd, AGENT_PATH, body,
                    {"Content-Type": "multipart/form-data; boundary=%s" % BOUNDARY})
    assert st == 400 and fd.received == []


def test_duplicate_part(fd):
    parts = ignis_parts()
    refused(fd, 400, parts=parts + [parts[1]])


def test_no_event_part(fd):
    refused(fd, 400, parts=ignis_parts()[1:])


def test_event_wrong_filename(fd):
    p = ignis_parts()
    p[0] = ("event", "event.txt", "application/json", p[0][3])
    refused(fd, 400, parts=p)


def test_event_wrong_content_type(fd):
    p = ignis_parts()
    p[0] = ("event", "event.json", "text/plain", p[0][3])
    refused(fd, 400, parts=p)


def test_event_not_json(fd):
    refused(fd, 400, parts=ignis_parts(b"{not json"))


@pytest.mark.parametrize("change", [
    {"version": "3"}, {"version": 4}, {"version": None},
    {"start": None}, {"end": None},
    {"start": "2026-11-21 15:44:04Z"}, {"start": "yesterday"}, {"end": 1795275760},
    {"start": "2026-11-21T15:46:00Z"},           # after end
    {"family": None}, {"family": ""},
    {"tags_profiler": None}, {"tags_profiler": ["service:a"]},
    {"attachments": None}, {"attachments": []}, {"attachments": "cpu.pprof"},
    {"attachments": ["cpu.pprof", "wall.pprof"]},  # no wall.pprof part
])
def test_event_fields(fd, change):
    refused(fd, 400, parts=ignis_parts(event(**change)))


@pytest.mark.parametrize("tags", [
    "service:" + "a" * 193,        # 201 characters
    "1service:a",                  # not starting with a letter
    "_service:a",
    "service:check out",           # a blank
    "service:caf\u00e9",           # outside the ASCII set
    "service:a,env:",              # trailing ':'
    "service:a,,env:prod",         # an empty tag
    "service:a;b",
])
def test_bad_tags(fd, tags):
    msg = refused(fd, 400, parts=ignis_parts(event(tags_profiler=tags)))
    assert "tags_profiler" in msg


def test_tag_rules_edges_accepted(fd):
    """200 characters exactly, upper case, backslash, bare tags and an empty
    tags_profiler are all within the rules."""
    tags = "k:" + "a" * 198 + ",Env:Prod,path:c\\d,bare"
    assert upload(fd, ignis_parts(event(tags_profiler=tags)))[0] == 200
    assert fd.received[0]["tags"]["bare"] == ""
    assert upload(fd, ignis_parts(event(tags_profiler="")))[0] == 200
    assert fd.received[1]["service"] is None


# ---- refused: the profile ---------------------------------------------------------

def test_corrupt_zstd(fd):
    p = ignis_parts()
    p[1] = ("cpu.pprof", "cpu.pprof", "application/octet-stream", p[1][3][:-5])
    refused(fd, 400, parts=p)


def test_corrupt_gzip(fd):
    p = ignis_parts(compress=gz)
    p[1] = ("cpu.pprof", "cpu.pprof", "application/octet-stream", p[1][3][:-5])
    refused(fd, 400, parts=p)


def test_not_a_pprof(fd):
    p = ignis_parts()
    p[1] = ("cpu.pprof", "cpu.pprof", "application/octet-stream",
            zstandard.ZstdCompressor().compress(b"\xff" * 64))
    refused(fd, 400, parts=p)


def _broken(fn):
    prof = make_profile()
    fn(prof)
    return prof


@pytest.mark.parametrize("name,breaker", [
    ("string_table[0]", lambda p: p.string_table.__setitem__(0, "x")),
    ("location id 0", lambda p: setattr(p.location[0], "id", 0)),
    ("duplicate function id", lambda p: setattr(p.function[1], "id", 1)),
    ("missing location", lambda p: p.sample[0].location_id.append(99)),
    ("missing function", lambda p: setattr(p.location[0].line[0], "function_id", 99)),
    ("string index", lambda p: setattr(p.function[0], "name", 9999)),
    ("value count", lambda p: p.sample[0].value.append(1)),
])
def test_bad_pprof(fd, name, breaker):
    refused(fd, 400, parts=ignis_parts(prof=_broken(breaker)))


def test_any_sample_type_names(fd):
    """Nothing in Datadog's intake path asks for particular sample type
    names (the Agent forwards the body as it is)."""
    prof = make_profile(sample_types=(("cpu", "nanoseconds"),), period_type=("cpu", "nanoseconds"))
    st, _, _ = upload(fd, ignis_parts(prof=prof))
    assert st == 200 and len(fd.received) == 1, fd.rejected


# ---- other answers -------------------------------------------------------------

def test_wrong_path_404(fd):
    refused(fd, 404, path="/v1/input")


def test_body_limit_413():
    with FakeDatadog(body_limit=4096) as f:
        prof = make_profile(nsamples=2000, depth=8)
        st, _, _ = upload(f, ignis_parts(prof=prof, compress=lambda p: p.SerializeToString()))
        assert st == 413 and f.received == []
        assert f.rejected[-1][0] == 413


def test_skipped_over_10mib(fd):
    """Accepted (2xx) but not stored, as the backend skips it."""
    prof = make_profile()
    prof.string_table.append(base64.b64encode(os.urandom(SKIP_BYTES + 65536)).decode())
    st, _, _ = upload(fd, ignis_parts(prof=prof, compress=gz))
    assert st == 200
    assert fd.received == [] and len(fd.skipped) == 1


def test_rate_limit_429():
    with FakeDatadog(rate_limit=1) as f:
        statuses = [upload(f)[0] for _ in range(3)]
        assert statuses[0] == 200 and 429 in statuses
        assert (429, "Too Many Requests") in f.rejected


def test_fail_next_then_ok(fd):
    fd.fail_next(2, 503, retry_after=7)
    st, h, _ = upload(fd)
    assert st == 503 and h["retry-after"] == "7"
    assert upload(fd)[0] == 503
    assert upload(fd)[0] == 200
    assert len(fd.received) == 1


def test_close_next(fd):
    fd.close_next(1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        upload(fd)
    assert fd.closed == 1
    assert upload(fd)[0] == 200


def test_hang_next(fd):
    fd.hang_next(1, seconds=5)
    with pytest.raises(socket.timeout):
        upload(fd, timeout=0.5)
    assert fd.hung == 1
    assert fd.received == []


def test_down_refuses_then_up_same_port(fd):
    port = fd.port
    fd.down()
    assert not fd.is_up
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    fd.up()
    assert fd.port == port and fd.url.endswith(":%d" % port)
    assert upload(fd)[0] == 200
    assert len(fd.received) == 1
