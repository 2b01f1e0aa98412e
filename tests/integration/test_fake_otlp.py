"""The test OTLP receiver itself (tests/fakes/otlp.py), with requests built by
hand from the official protos: it must accept what the specification allows
and refuse, with the status and google.rpc.Status body a receiver answers,
what it forbids; otherwise the exporter's tests would prove nothing."""
import gzip
import http.client
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from fakes.otlp import FakeOTLP, PATH, pb2  # noqa: E402

svc_pb2, profiles_pb2, status_pb2 = pb2()


def valid_request():
    """Two samples over one stack, a link and an attribute, every table
    with its zero value at 0."""
    req = svc_pb2.ExportProfilesServiceRequest()
    d = req.dictionary
    d.string_table.extend(["", "samples", "count", "cpu", "nanoseconds", "main", "leaf",
                           "/usr/bin/app", "thread.name", "worker"])
    d.mapping_table.add()
    m = d.mapping_table.add()
    m.memory_start, m.memory_limit, m.filename_strindex = 0x400000, 0x500000, 7
    d.function_table.add()
    d.function_table.add().name_strindex = 5
    d.function_table.add().name_strindex = 6
    d.location_table.add()
    for fn in (2, 1):
        loc = d.location_table.add()
        loc.mapping_index, loc.address = 1, 0x401000 + fn
        loc.lines.add().function_index = fn
    d.stack_table.add()
    d.stack_table.add().location_indices.extend([1, 2])
    d.attribute_table.add()
    a = d.attribute_table.add()
    a.key_strindex = 8
    a.value.string_value = "worker"
    lk0 = d.link_table.add()
    lk0.trace_id, lk0.span_id = bytes(16), bytes(8)
    lk = d.link_table.add()
    lk.trace_id, lk.span_id = bytes(range(1, 17)), bytes(range(1, 9))
    rp = req.resource_profiles.add()
    kv = rp.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "api"
    sp = rp.scope_profiles.add()
    sp.scope.name = "test"
    p = sp.profiles.add()
    p.sample_type.type_strindex, p.sample_type.unit_strindex = 1, 2
    p.period_type.type_strindex, p.period_type.unit_strindex = 3, 4
    p.period = 10_000_000
    p.profile_id = bytes(range(16))[::-1]
    s = p.samples.add()
    s.stack_index, s.link_index = 1, 1
    s.attribute_indices.append(1)
    s.values.append(3)
    s2 = p.samples.add()
    s2.stack_index = 1
    s2.values.append(2)
    return req


def post(fo, body, ctype="application/x-protobuf", headers=None, path=PATH):
    conn = http.client.HTTPConnection("127.0.0.1", fo.port, timeout=10)
    h = {"Content-Type": ctype}
    h.update(headers or {})
    conn.request("POST", path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data, r.getheader("Content-Type")


def status_message(data):
    st = status_pb2.Status()
    st.ParseFromString(data)
    return st.code, st.message


@pytest.fixture
def fo():
    with FakeOTLP() as f:
        yield f


def test_accepts_a_valid_request(fo):
    status, data, ctype = post(fo, valid_request().SerializeToString())
    assert status == 200, status_message(data)
    assert ctype == "application/x-protobuf"
    resp = svc_pb2.ExportProfilesServiceResponse()
    resp.ParseFromString(data)
    assert not resp.HasField("partial_success")
    (p,) = fo.received[0]["profiles"]
    assert p["resource"] == {"service.name": "api"}
    assert p["total"] == 5
    s = p["samples"][0]
    assert s["stack"] == ["leaf", "main"]
    assert s["attrs"] == {"thread.name": "worker"}
    assert s["link"] == (bytes(range(1, 17)).hex(), bytes(range(1, 9)).hex())
    # gzip, and the development version header when it says 1
    status, _, _ = post(fo, gzip.compress(valid_request().SerializeToString()),
                        headers={"Content-Encoding": "gzip",
                                 "OTLP-Profiles-Development-Version": "1"})
    assert status == 200


def breaks(mutate):
    req = valid_request()
    mutate(req)
    return req.SerializeToString()


@pytest.mark.parametrize("mutate,message", [
    (lambda r: r.dictionary.string_table.__setitem__(0, "x"), "string_table[0]"),
    (lambda r: setattr(r.dictionary.function_table[0], "name_strindex", 5), "function_table[0]"),
    (lambda r: r.dictionary.ClearField("stack_table"), "stack_table: index 0"),
    (lambda r: setattr(r.dictionary.link_table[0], "span_id", b"\x01" * 8), "link_table[0]"),
    (lambda r: setattr(r.dictionary.function_table[1], "name_strindex", 99), "out of range"),
    (lambda r: setattr(r.dictionary.function_table[1], "name_strindex", 0), "no name"),
    (lambda r: r.dictionary.stack_table[1].location_indices.append(7), "out of range"),
    (lambda r: r.dictionary.stack_table[1].location_indices.append(0), "index 0"),
    (lambda r: setattr(r.dictionary.location_table[1], "mapping_index", 5), "out of range"),
    (lambda r: setattr(r.dictionary.link_table[1], "span_id", b"\x01" * 4), "16 and 8"),
    (lambda r: setattr(r.dictionary.link_table[1], "trace_id", bytes(16)), "all-zero"),
    (lambda r: setattr(r.resource_profiles[0].scope_profiles[0].profiles[0].samples[0],
                       "link_index", 2), "out of range"),
    (lambda r: r.resource_profiles[0].scope_profiles[0].profiles[0].samples[0]
     .attribute_indices.append(1), "twice"),
    (lambda r: r.resource_profiles[0].scope_profiles[0].profiles[0].samples[1]
     .ClearField("values"), "neither values nor timestamps"),
    (lambda r: r.resource_profiles[0].scope_profiles[0].profiles[0].samples[1]
     .values.append(1), "2 values"),
    (lambda r: r.resource_profiles[0].scope_profiles[0].profiles[0]
     .ClearField("sample_type"), "no sample_type"),
    (lambda r: setattr(r.resource_profiles[0].scope_profiles[0].profiles[0], "profile_id",
                       b"\x01" * 8), "profile_id"),
    (lambda r: setattr(r.resource_profiles[0].resource.attributes.add(), "key", "service.name"),
     "twice"),
    (lambda r: r.ClearField("dictionary"), "without a dictionary"),
])
def test_refuses_what_the_specification_forbids(fo, mutate, message):
    status, data, ctype = post(fo, breaks(mutate))
    assert status == 400
    assert ctype == "application/x-protobuf"
    code, msg = status_message(data)
    assert code == 3
    assert message in msg, msg
    assert not fo.received


def test_transport_rules(fo):
    body = valid_request().SerializeToString()
    assert post(fo, body, ctype="application/json")[0] == 415
    assert post(fo, body, headers={"Content-Encoding": "br"})[0] == 400
    assert post(fo, b"\xff\xff\xff\xff")[0] == 400
    assert post(fo, body, headers={"OTLP-Profiles-Development-Version": "2"})[0] == 400
    assert post(fo, body, path="/v1/profiles")[0] == 404
    conn = http.client.HTTPConnection("127.0.0.1", fo.port, timeout=10)
    conn.request("GET", PATH)
    assert conn.getresponse().status == 405
    conn.close()
    assert not fo.received


def test_scripted_answers(fo):
    body = valid_request().SerializeToString()
    fo.fail_next(1, 503, retry_after=7, message="busy")
    conn = http.client.HTTPConnection("127.0.0.1", fo.port, timeout=10)
    conn.request("POST", PATH, body=body, headers={"Content-Type": "application/x-protobuf"})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    assert r.status == 503 and r.getheader("Retry-After") == "7"
    assert status_message(data)[1] == "busy"
    fo.partial_next(1, 2, "two refused")
    status, data, _ = post(fo, body)
    assert status == 200
    resp = svc_pb2.ExportProfilesServiceResponse()
    resp.ParseFromString(data)
    assert resp.partial_success.rejected_profiles == 2
    assert resp.partial_success.error_message == "two refused"
    fo.close_next(1)
    with pytest.raises(http.client.RemoteDisconnected):
        post(fo, body)
    fo.down()
    with pytest.raises(OSError):
        post(fo, body)
    fo.up()
    assert post(fo, body)[0] == 200
