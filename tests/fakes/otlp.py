"""A test intake that answers like an OTLP/HTTP profiles receiver (the
OpenTelemetry Collector's otlp receiver, binary protobuf), for the otlp
exporter's integration tests.

It serves, on 127.0.0.1 and a free port (kept across down()/up()):
  POST /v1development/profiles   ExportProfilesServiceRequest
and decodes every request with Python modules generated at test time (protoc
--python_out) from the official .proto files vendored in proto/otlp/
(opentelemetry-proto v1.11.0), then checks it field by field against the
rules the specification states with MUST (profiles.proto comments and
docs/specification.md at that tag):
  - Content-Type application/x-protobuf (application/json is legal OTLP but
    not what ignis sends: 415 like any other type); Content-Encoding gzip or
    none (others 400); the body must decode (400);
  - OTLP-Profiles-Development-Version, when sent, exactly once and "1" (the
    Collector's rule: absent means version 1);
  - the dictionary: every table present with its zero value at index 0
    (string_table[0] == "", Mapping{}, Location{}, Function{}, Stack{},
    KeyValueAndUnit{}, and a Link whose ids are empty or all zero bytes);
  - every index (strindex, function, mapping, location, stack, attribute,
    link) within its table; a Function has a name, a system name or a file;
    a Link's ids are 16 and 8 bytes and not all zero;
  - a ResourceProfiles' resource attribute keys unique and non-empty;
  - a Profile has a sample_type, and every Sample one value per sample type
    (or timestamps, as many as values when both), unique attribute keys,
    a profile_id empty or of 16 bytes that are not all zero.
Answers: 200 with an ExportProfilesServiceResponse (application/x-protobuf;
partial_success only when scripted), errors with a google.rpc.Status body
(code 3 INVALID_ARGUMENT for bad data), 404 elsewhere, 405 for GET on the
path. Failures can be scripted: fail_next (status, Retry-After), partial_next
(rejected_profiles, error_message), hang_next, close_next (no answer),
down()/up() (connection refused).

.received: one dict per accepted request (path, headers, time, request: the
decoded message, profiles: decode_profiles(request)); .rejected: [(status,
message)]; .requests: every request (path, status, time)."""
import gzip
import importlib
import io
import os
import subprocess
import sys
import tempfile
import threading
import time

try:
    from .server import FakeHandler, FakeServer
except ImportError:  # imported as a top-level module
    from server import FakeHandler, FakeServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(ROOT, "proto")
OTLP_DIR = os.path.join(PROTO_DIR, "otlp")
PATH = "/v1development/profiles"
PB = "application/x-protobuf"
BODY_LIMIT = 64 << 20   # the specification's recommended bound (413 past it)
VERSION_HEADER = "otlp-profiles-development-version"

_pb2 = None
_pb2_lock = threading.Lock()


def pb2():
    """(profiles_service_pb2, profiles_pb2, rpc_status_pb2), generated once
    per process from the official .proto files with protoc --python_out."""
    global _pb2
    with _pb2_lock:
        if _pb2 is None:
            out = tempfile.mkdtemp(prefix="ignis-otlp-pb2-")
            protos = []
            for d, _, files in os.walk(OTLP_DIR):
                protos += [os.path.relpath(os.path.join(d, f), OTLP_DIR)
                           for f in files if f.endswith(".proto")]
            subprocess.run(["protoc", "--python_out=" + out, "-I", OTLP_DIR] + sorted(protos),
                           check=True)
            subprocess.run(["protoc", "--python_out=" + out, "-I", PROTO_DIR,
                            "rpc_status.proto"], check=True)
            sys.path.insert(0, out)
            try:
                _pb2 = (
                    importlib.import_module(
                        "opentelemetry.proto.collector.profiles.v1development."
                        "profiles_service_pb2"),
                    importlib.import_module(
                        "opentelemetry.proto.profiles.v1development.profiles_pb2"),
                    importlib.import_module("rpc_status_pb2"))
            finally:
                sys.path.remove(out)
        return _pb2


class Reject(Exception):
    def __init__(self, status, message, headers=None, code=3):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.code = code


def bad(message):
    return Reject(400, message)


def any_value(v):
    """An AnyValue as a Python value (string, int, ...), None when empty."""
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def validate(req):
    """Raises Reject(400) naming the first rule req breaks."""
    if not req.HasField("dictionary"):
        if any(rp.scope_profiles for rp in req.resource_profiles):
            raise bad("profiles without a dictionary")
        return
    d = req.dictionary
    st, fns, maps, locs = d.string_table, d.function_table, d.mapping_table, d.location_table
    stacks, attrs, links = d.stack_table, d.attribute_table, d.link_table
    for name, table in (("string_table", st), ("mapping_table", maps),
                        ("location_table", locs), ("function_table", fns),
                        ("link_table", links), ("attribute_table", attrs),
                        ("stack_table", stacks)):
        if not len(table):
            raise bad("dictionary.%s: index 0 (the zero value) missing" % name)
    if st[0] != "":
        raise bad("string_table[0] must be \"\", got %r" % st[0])
    for name, table in (("mapping_table", maps), ("location_table", locs),
                        ("function_table", fns), ("attribute_table", attrs),
                        ("stack_table", stacks)):
        if table[0].ByteSize() != 0:
            raise bad("%s[0] must be the zero value, got %s" % (name, table[0]))
    if any(links[0].trace_id) or any(links[0].span_id):
        raise bad("link_table[0] must be zero ids")

    def idx(what, i, table):
        if not 0 <= i < len(table):
            raise bad("%s %d out of range (table of %d)" % (what, i, len(table)))

    def attr_list(what, indices):
        keys = set()
        for i in indices:
            idx(what + " attribute index", i, attrs)
            if i == 0:
                raise bad("%s: attribute index 0 (the zero value)" % what)
            k = attrs[i].key_strindex
            if k in keys:
                raise bad("%s: attribute key %r twice" % (what, st[k]))
            keys.add(k)

    for i, a in enumerate(attrs):
        idx("attribute_table[%d].key_strindex" % i, a.key_strindex, st)
        idx("attribute_table[%d].unit_strindex" % i, a.unit_strindex, st)
        if i and not st[a.key_strindex]:
            raise bad("attribute_table[%d]: empty key" % i)
        if a.value.WhichOneof("value") == "string_value_strindex":
            idx("attribute_table[%d] string_value_strindex" % i, a.value.string_value_strindex,
                st)
    for i, f in enumerate(fns):
        for fld in ("name_strindex", "system_name_strindex", "filename_strindex"):
            idx("function_table[%d].%s" % (i, fld), getattr(f, fld), st)
        if i and not (f.name_strindex or f.system_name_strindex or f.filename_strindex):
            raise bad("function_table[%d]: no name, system name or file" % i)
    for i, m in enumerate(maps):
        idx("mapping_table[%d].filename_strindex" % i, m.filename_strindex, st)
        attr_list("mapping_table[%d]" % i, m.attribute_indices)
    for i, loc in enumerate(locs):
        idx("location_table[%d].mapping_index" % i, loc.mapping_index, maps)
        for ln in loc.lines:
            idx("location_table[%d] line function_index" % i, ln.function_index, fns)
            if i and ln.function_index == 0:
                raise bad("location_table[%d]: a line without a function" % i)
        attr_list("location_table[%d]" % i, loc.attribute_indices)
    for i, s in enumerate(stacks):
        for li in s.location_indices:
            idx("stack_table[%d] location index" % i, li, locs)
            if li == 0:
                raise bad("stack_table[%d]: location index 0 (the zero value)" % i)
    for i, lk in enumerate(links):
        if i and (len(lk.trace_id) != 16 or len(lk.span_id) != 8):
            raise bad("link_table[%d]: trace_id of %d bytes, span_id of %d (16 and 8)"
                      % (i, len(lk.trace_id), len(lk.span_id)))
        if i and (not any(lk.trace_id) or not any(lk.span_id)):
            raise bad("link_table[%d]: an all-zero id is invalid" % i)
    for r, rp in enumerate(req.resource_profiles):
        keys = set()
        for kv in rp.resource.attributes:
            if not kv.key or kv.key in keys:
                raise bad("resource_profiles[%d]: resource attribute key %r empty or twice"
                          % (r, kv.key))
            keys.add(kv.key)
        for sp in rp.scope_profiles:
            for p in sp.profiles:
                where = "resource_profiles[%d] profile" % r
                if not p.HasField("sample_type"):
                    raise bad("%s: no sample_type" % where)
                for vt in (p.sample_type, p.period_type):
                    idx(where + " value type strindex", vt.type_strindex, st)
                    idx(where + " value type strindex", vt.unit_strindex, st)
                if p.profile_id and (len(p.profile_id) != 16 or not any(p.profile_id)):
                    raise bad("%s: profile_id must be 16 bytes, not all zero" % where)
                attr_list(where, p.attribute_indices)
                for j, s in enumerate(p.samples):
                    sw = "%s sample %d" % (where, j)
                    idx(sw + " stack_index", s.stack_index, stacks)
                    idx(sw + " link_index", s.link_index, links)
                    attr_list(sw, s.attribute_indices)
                    if not s.values and not s.timestamps_unix_nano:
                        raise bad("%s: neither values nor timestamps" % sw)
                    if s.values and s.timestamps_unix_nano and \
                            len(s.values) != len(s.timestamps_unix_nano):
                        raise bad("%s: %d values, %d timestamps" % (
                            sw, len(s.values), len(s.timestamps_unix_nano)))
                    if s.values and len(s.values) != 1:
                        raise bad("%s: %d values for one sample type" % (sw, len(s.values)))


def decode_profiles(req):
    """The profiles of a request as plain data: [{resource, scope, sample_type,
    period_type, period, time, duration, profile_id, samples: [{stack (function
    names, leaf first, inlined ones first within their location), locations
    ([(mapping file, address, [(function, line)], mapping attributes,
    location attributes)]), attrs, link (trace hex,
    span hex) or None, value}], total}]."""
    d = req.dictionary
    st = d.string_table
    out = []

    def attr_dict(indices):
        return {st[d.attribute_table[i].key_strindex]: any_value(d.attribute_table[i].value)
                for i in indices}

    for rp in req.resource_profiles:
        resource = {kv.key: any_value(kv.value) for kv in rp.resource.attributes}
        for sp in rp.scope_profiles:
            for p in sp.profiles:
                samples = []
                for s in p.samples:
                    stack, locations = [], []
                    for li in d.stack_table[s.stack_index].location_indices:
                        loc = d.location_table[li]
                        m = d.mapping_table[loc.mapping_index]
                        lines = [(st[d.function_table[ln.function_index].name_strindex], ln.line)
                                 for ln in loc.lines]
                        stack += [f for f, _ in lines]
                        locations.append((st[m.filename_strindex], loc.address, lines,
                                          attr_dict(m.attribute_indices),
                                          attr_dict(loc.attribute_indices)))
                    link = None
                    if s.link_index:
                        lk = d.link_table[s.link_index]
                        link = (lk.trace_id.hex(), lk.span_id.hex())
                    samples.append({"stack": stack, "locations": locations,
                                    "attrs": attr_dict(s.attribute_indices), "link": link,
                                    "value": sum(s.values) if s.values else
                                    len(s.timestamps_unix_nano)})
                out.append({
                    "resource": resource,
                    "scope": (sp.scope.name, sp.scope.version),
                    "sample_type": (st[p.sample_type.type_strindex],
                                    st[p.sample_type.unit_strindex]),
                    "period_type": (st[p.period_type.type_strindex],
                                    st[p.period_type.unit_strindex]),
                    "period": p.period,
                    "time": p.time_unix_nano / 1e9,
                    "duration": p.duration_nano / 1e9,
                    "profile_id": p.profile_id.hex(),
                    "samples": samples,
                    "total": sum(s["value"] for s in samples),
                })
    return out


class FakeOTLP(FakeServer):
    """with FakeOTLP() as fo: point the exporter at fo.url (the endpoint)."""

    def __init__(self, port=0):
        super().__init__(port)
        self.Handler = _Handler
        self.svc_pb2, self.profiles_pb2, self.status_pb2 = pb2()

    def partial_next(self, n, rejected, message):
        """Accept the next n valid requests with a partial_success."""
        with self._lock:
            self._actions += [("partial", rejected, message)] * n

    # ---- the receiver -----------------------------------------------------

    def status_body(self, code, message):
        return self.status_pb2.Status(code=code, message=message).SerializeToString()

    def handle(self, headers, body, meta):
        """The decoded request, or Reject."""
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != PB:
            raise Reject(415, "unsupported content type %r" % ctype)
        versions = headers.get_all(VERSION_HEADER) or []
        if len(versions) > 1 or (versions and versions[0] != "1"):
            raise bad("invalid %s %r" % (VERSION_HEADER, versions))
        enc = headers.get("content-encoding", "").lower()
        if enc == "gzip":
            try:
                d = gzip.GzipFile(fileobj=io.BytesIO(body))
                body = d.read(BODY_LIMIT + 1)
            except (OSError, EOFError) as e:
                raise bad("gzip: %s" % e)
            if len(body) > BODY_LIMIT:
                raise Reject(413, "request body too large")
        elif enc not in ("", "identity"):
            raise bad("unsupported Content-Encoding %r" % enc)
        req = self.svc_pb2.ExportProfilesServiceRequest()
        try:
            req.ParseFromString(body)
        except Exception as e:  # DecodeError, or invalid UTF-8 in a string
            raise bad("proto: cannot parse invalid wire-format data (%s)" % e)
        validate(req)
        return req


class _Handler(FakeHandler):
    def _respond(self, path, now):
        fake = self.fake
        body = self._read_body(BODY_LIMIT)
        if body is None:
            self.close_connection = True
        headers = self.headers
        try:
            if path != PATH:
                return (404, b"404 page not found\n", "text/plain", None)
            action = fake._next_action()
            if action and action[0] == "hang":
                fake._stop.wait(action[1])
                return None
            if action and action[0] == "close":
                return None
            if action and action[0] == "fail":
                _, st, retry_after, message = action
                extra = {"Retry-After": retry_after} if retry_after is not None else {}
                raise Reject(st, message or "fake: injected failure %d" % st, extra,
                             code=14 if st in (502, 503, 504) else 8 if st == 429 else 13)
            if body is None:
                raise Reject(413, "request body too large")
            req = fake.handle(headers, body, {})
            resp = fake.svc_pb2.ExportProfilesServiceResponse()
            if action and action[0] == "partial":
                resp.partial_success.rejected_profiles = action[1]
                resp.partial_success.error_message = action[2]
            entry = {"path": path, "headers": {k.lower(): v for k, v in headers.items()},
                     "time": now, "request": req, "profiles": decode_profiles(req),
                     "size": len(body)}
            with fake._cond:
                fake.received.append(entry)
                fake._cond.notify_all()
            return (200, resp.SerializeToString(), PB, None)
        except Reject as r:
            with fake._lock:
                fake.rejected.append((r.status, r.message))
            return (r.status, fake.status_body(r.code, r.message), PB, r.headers)

    def do_POST(self):
        fake = self.fake
        now = time.time()
        path = self.path.partition("?")[0]
        answer = self._respond(path, now)
        with fake._lock:
            fake.requests.append({"path": path, "time": now,
                                  "status": answer[0] if answer else None})
        if answer is None:   # hang_next, close_next: no answer
            self.close_connection = True
            return
        self._answer(*answer)

    def do_GET(self):
        if self.path.partition("?")[0] == PATH:
            self._answer(405, b"405 method not allowed, supported: [POST]\n", "text/plain")
        else:
            self._answer(404, b"404 page not found\n", "text/plain")
