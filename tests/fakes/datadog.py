"""A test intake that answers like Datadog's profiling intake, either through
a local Datadog Agent or agentless, for the exporter's integration tests.

It serves, on 127.0.0.1 and a free port (or the one given):
  POST /profiling/v1/input   the local agent's endpoint: no API key needed (the
                             agent adds its own); a success is 200 (the agent
                             turns the intake's 202 into 200 for old clients)
  POST /api/v2/profile       the agentless intake: DD-API-KEY must be there and
                             be the configured key, else 403; a success is 202
Anything else is 404. What it checks, in order (reference/WIRE.md):
  - the body size (413 past body_limit), the rate (429 past rate_limit
    requests per second, when set);
  - the body is multipart/form-data, parsed strictly here (email/cgi are
    deprecated): boundary from Content-Type, CRLF delimiters, each part with
    Content-Disposition: form-data; name=...[; filename=...] and an optional
    Content-Type, no duplicate part names, nothing after the close
    delimiter but a CRLF; anything else 400;
  - part "event", filename "event.json", Content-Type application/json,
    holding a JSON object with start and end (RFC 3339, start <= end),
    attachments (a non-empty list of names, each a part of the body),
    tags_profiler (a string of comma-separated tags), family (a non-empty
    string) and version "4"; other fields (endpoint_counts, info,
    process_tags) are allowed; else 400;
  - every tag of tags_profiler follows Datadog's rules: non-empty, at most
    200 characters, starts with a letter, only [A-Za-z0-9_-:./\\], does not
    end with ':'; else 400;
  - every attachment decompresses (zstd or gzip by its magic bytes, else
    taken as plain) to at most DECOMPRESSED_LIMIT bytes, and every *.pprof
    attachment decodes as a pprof with string_table[0] == "", string indexes
    in range, mapping/location/function ids not 0 and unique, every id a
    sample or line refers to present, one value per sample type; else 400.
    Sample type names are not checked: neither the Agent's proxy nor
    Datadog's clients require particular ones (the exporter's own tests
    check that ignis sends the eBPF profiler's cpu-samples/count and
    cpu-time/nanoseconds).
A profile whose attachment is over SKIP_BYTES compressed is answered 2xx and
not stored, as the backend skips it: it lands in .skipped, not .received.

Where the real intake is lenient, the fake is strict so tests catch a
client's bug rather than the backend quietly fixing it:
  - the backend normalizes tags it does not like (lower case, '_' for other
    characters) instead of refusing them; the fake refuses them;
  - the real intake does not require a service tag (the agent's proxy,
    datadog-agent pkg/trace/api/profiles.go, forwards whatever it gets and
    only adds host/default_env/agent_version in a header; the backend files a
    profile without one under a default); neither does the fake, but it
    records the service a profile was filed under in "service";
  - pprof ids and references are checked, which the backend does not do
    before storing.
The real intake's answer bodies are not documented; the fake answers "{}" on
success and {"errors": [message]} on failure, and clients must not depend
on either.

Every accepted profile is recorded in .received (see _record), every refusal
in .rejected [(status, message)]; failures can be scripted with fail_next,
hang_next and close_next, and down()/up() make the port refuse connections
and come back on the same port."""
import io
import json
import re
import time
import calendar
import zlib

import zstandard

try:
    from .server import FakeHandler, FakeServer
except ImportError:  # imported as a top-level module
    from server import FakeHandler, FakeServer

try:
    from .pyroscope import pb2
except ImportError:  # imported as a top-level module
    from pyroscope import pb2

AGENT_PATH = "/profiling/v1/input"
AGENTLESS_PATH = "/api/v2/profile"

MIB = 1 << 20
# Not a published figure of the real intake: big enough for any profile the
# backend keeps, small enough to bound the fake's memory. A knob.
BODY_LIMIT = 32 * MIB
SKIP_BYTES = 10 * MIB            # the backend skips bigger profiles
DECOMPRESSED_LIMIT = 64 * MIB
MAX_TAG_LEN = 200

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"


_TAG_RE = re.compile(r"[A-Za-z][A-Za-z0-9_\-:./\\]*")
_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
_BCHARS = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")


class Reject(Exception):
    """An answer other than 2xx."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def bad(message):
    return Reject(400, message)


# ---- parsers ----------------------------------------------------------------

def parse_rfc3339(s):
    """Seconds since the epoch (float) of an RFC 3339 timestamp; raises
    ValueError."""
    if not isinstance(s, str):
        raise ValueError("not a string")
    m = _RFC3339_RE.fullmatch(s)
    if not m:
        raise ValueError("not RFC 3339: %r" % s)
    y, mo, d, h, mi, sec = (int(x) for x in m.groups()[:6])
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and sec <= 60):
        raise ValueError("out of range: %r" % s)
    t = calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0))
    if m.group(7):
        t += float("0" + m.group(7))
    off = m.group(8)
    if off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        t -= sign * (int(off[1:3]) * 3600 + int(off[4:6]) * 60)
    return t


def tag_error(tag):
    """Why a tag breaks Datadog's rules, or None."""
    if not tag:
        return "empty tag"
    if len(tag) > MAX_TAG_LEN:
        return "tag longer than %d characters: %r" % (MAX_TAG_LEN, tag[:40] + "...")
    if not ("a" <= tag[0].lower() <= "z"):
        return "tag does not start with a letter: %r" % tag
    if not _TAG_RE.fullmatch(tag):
        return "tag has characters outside [A-Za-z0-9_-:./\\]: %r" % tag
    if tag.endswith(":"):
        return "tag ends with ':': %r" % tag
    return None


def _header_params(value):
    """'type; k=v; k2="v 2"' -> (type lower-cased, {k lower-cased: v});
    raises ValueError on a malformed parameter."""
    parts = []
    cur, quoted, i = [], False, 0
    while i < len(value):
        c = value[i]
        if quoted:
            if c == "\\" and i + 1 < len(value):
                cur.append(value[i + 1])
                i += 2
                continue
            if c == '"':
                quoted = False
            cur.append(c)
        elif c == '"':
            quoted = True
            cur.append(c)
        elif c == ";":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    if quoted:
        raise ValueError("unterminated quote")
    parts.append("".join(cur))
    kind = parts[0].strip().lower()
    params = {}
    for p in parts[1:]:
        p = p.strip()
        if not p:
            continue
        k, eq, v = p.partition("=")
        k = k.strip().lower()
        v = v.strip()
        if not eq or not k or not v:
            raise ValueError("malformed parameter %r" % p)
        if v.startswith('"'):
            if len(v) < 2 or not v.endswith('"'):
                raise ValueError("malformed quoted value %r" % p)
            v = v[1:-1]
        if k in params:
            raise ValueError("duplicate parameter %r" % k)
        params[k] = v
    return kind, params


def parse_multipart(content_type, body):
    """Strict multipart/form-data: [{name, filename, content_type, data}].
    Raises Reject(400)."""
    try:
        kind, params = _header_params(content_type or "")
    except ValueError as e:
        raise bad("Content-Type: %s" % e)
    if kind != "multipart/form-data":
        raise bad("Content-Type must be multipart/form-data, got %r" % kind)
    boundary = params.get("boundary")
    if not boundary or not _BCHARS.fullmatch(boundary):
        raise bad("multipart: missing or invalid boundary")
    delim = b"--" + boundary.encode("ascii")
    if not body.startswith(delim):
        raise bad("multipart: body does not start with the boundary delimiter")
    parts, names = [], set()
    pos = len(delim)
    while True:
        if body[pos:pos + 2] == b"--":
            if body[pos + 2:] not in (b"", b"\r\n"):
                raise bad("multipart: data after the close delimiter")
            break
        if body[pos:pos + 2] != b"\r\n":
            raise bad("multipart: delimiter not followed by CRLF")
        pos += 2
        end = body.find(b"\r\n\r\n", pos)
        if end < 0:
            raise bad("multipart: part headers not ended by an empty line")
        headers = {}
        for line in body[pos:end].split(b"\r\n"):
            try:
                text = line.decode("ascii")
            except UnicodeDecodeError:
                raise bad("multipart: non-ASCII part header")
            name, colon, value = text.partition(":")
            if not colon or not name or name != name.strip() or "\n" in text or "\r" in text:
                raise bad("multipart: malformed part header %r" % text[:80])
            name = name.lower()
            if name in headers:
                raise bad("multipart: duplicate part header %r" % name)
            headers[name] = value.strip()
        if "content-disposition" not in headers:
            raise bad("multipart: part without Content-Disposition")
        try:
            disp, dparams = _header_params(headers["content-disposition"])
        except ValueError as e:
            raise bad("multipart: Content-Disposition: %s" % e)
        if disp != "form-data" or not dparams.get("name"):
            raise bad("multipart: Content-Disposition must be form-data with a name")
        name = dparams["name"]
        if name in names:
            raise bad("multipart: duplicate part %r" % name)
        names.add(name)
        data_start = end + 4
        nxt = body.find(b"\r\n" + delim, data_start)
        if nxt < 0:
            raise bad("multipart: part %r not closed by a delimiter" % name)
        parts.append({"name": name, "filename": dparams.get("filename"),
                      "content_type": headers.get("content-type"),
                      "data": body[data_start:nxt]})
        pos = nxt + 2 + len(delim)
    if not parts:
        raise bad("multipart: no parts")
    return parts


def decompress(data, limit=DECOMPRESSED_LIMIT):
    """(bytes, "zstd" | "gzip" | "none") by magic bytes; raises Reject(400)
    when it does not decompress or passes limit."""
    if data[:4] == ZSTD_MAGIC:
        out = bytearray()
        try:
            with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data),
                                                            read_across_frames=True) as r:
                while True:
                    chunk = r.read(1 << 20)
                    if not chunk:
                        break
                    out += chunk
                    if len(out) > limit:
                        raise bad("attachment decompresses past %d bytes" % limit)
        except zstandard.ZstdError as e:
            raise bad("zstd: %s" % e)
        if not out:
            raise bad("zstd: empty or truncated frame")
        return bytes(out), "zstd"
    if data[:2] == GZIP_MAGIC:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = d.decompress(data, limit + 1)
        except zlib.error as e:
            raise bad("gzip: %s" % e)
        if len(out) > limit:
            raise bad("attachment decompresses past %d bytes" % limit)
        if not d.eof:
            raise bad("gzip: unexpected EOF")
        return out, "gzip"
    if len(data) > limit:
        raise bad("attachment larger than %d bytes" % limit)
    return data, "none"


def check_pprof(prof, name):
    """Raises Reject(400) for a pprof the fake will not store."""
    st = prof.string_table
    n = len(st)
    if n == 0 or st[0] != "":
        raise bad("%s: string_table[0] must be \"\"" % name)

    def s(i, what):
        if not 0 <= i < n:
            raise bad("%s: %s string index %d out of range" % (name, what, i))
        return st[i]

    def ids(items, what):
        seen = set()
        for it in items:
            if it.id == 0:
                raise bad("%s: %s id 0" % (name, what))
            if it.id in seen:
                raise bad("%s: duplicate %s id %d" % (name, what, it.id))
            seen.add(it.id)
        return seen

    mappings = ids(prof.mapping, "mapping")
    functions = ids(prof.function, "function")
    locations = ids(prof.location, "location")
    types = [(s(t.type, "sample type"), s(t.unit, "sample unit")) for t in prof.sample_type]
    if not types:
        raise bad("%s: no sample type" % name)
    for m in prof.mapping:
        s(m.filename, "mapping filename")
        s(m.build_id, "mapping build id")
    for f in prof.function:
        s(f.name, "function name")
        s(f.system_name, "function system name")
        s(f.filename, "function filename")
    for loc in prof.location:
        if loc.mapping_id and loc.mapping_id not in mappings:
            raise bad("%s: location %d refers to missing mapping %d" % (name, loc.id, loc.mapping_id))
        for ln in loc.line:
            if ln.function_id not in functions:
                raise bad("%s: location %d refers to missing function %d"
                          % (name, loc.id, ln.function_id))
    for smp in prof.sample:
        if len(smp.value) != len(types):
            raise bad("%s: sample with %d values for %d sample types"
                      % (name, len(smp.value), len(types)))
        for lid in smp.location_id:
            if lid not in locations:
                raise bad("%s: sample refers to missing location %d" % (name, lid))
        for lb in smp.label:
            s(lb.key, "label key")
            s(lb.str, "label value")
            s(lb.num_unit, "label unit")
    period = (s(prof.period_type.type, "period type"), s(prof.period_type.unit, "period unit"))
    return types, period


class _TokenBucket:
    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens, self.last = float(burst), time.monotonic()

    def allow(self):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


# ---- the fake ---------------------------------------------------------------

class FakeDatadog(FakeServer):
    """with FakeDatadog(api_key="k") as fd: point a client at fd.url +
    AGENT_PATH (or AGENTLESS_PATH), then inspect fd.received: one dict per
    stored profile with path, headers (lower-case names), event (the parsed
    event.json), tag_list (tags_profiler split), tags ({key: value} of the
    first value of each key; "" for a bare tag), service (what the profile is
    filed under: its service tag, else None), profile (the decoded cpu.pprof,
    else the first pprof attachment), profiles ({attachment: Profile}),
    attachment_compression (of that profile: "zstd", "gzip" or "none"),
    compressions ({attachment: ...}), time. fd.rejected [(status, message)],
    fd.skipped (profiles accepted and not stored, as received entries),
    fd.requests (every request: path, status, time)."""

    def __init__(self, api_key=None, body_limit=BODY_LIMIT, rate_limit=None, port=0):
        """api_key: the key /api/v2/profile expects (None: any non-empty
        key). rate_limit: requests per second (burst as many) before 429."""
        self.profile_pb2 = pb2()[2]
        self.api_key = api_key
        self.body_limit = body_limit
        self.rate = _TokenBucket(rate_limit, max(1.0, rate_limit)) if rate_limit else None
        super().__init__(port)
        self.Handler = _Handler
        self.skipped = []
        self.hung = 0
        self.closed = 0

    # ---- the intake -------------------------------------------------------

    def _authenticate(self, path, headers):
        if path != AGENTLESS_PATH:
            return
        key = headers.get("dd-api-key", "")
        if not key or (self.api_key is not None and key != self.api_key):
            raise Reject(403, "Forbidden")

    def handle(self, path, headers, body, meta):
        """Checks one upload; records it. Raises Reject."""
        self._authenticate(path, headers)
        if self.rate:
            with self._lock:
                ok = self.rate.allow()
            if not ok:
                raise Reject(429, "Too Many Requests")
        parts = parse_multipart(headers.get("content-type"), body)
        by_name = {p["name"]: p for p in parts}
        ev = by_name.get("event")
        if ev is None:
            raise bad("no event part")
        if ev["filename"] != "event.json":
            raise bad("event part must have filename event.json, got %r" % ev["filename"])
        if (ev["content_type"] or "").split(";")[0].strip().lower() != "application/json":
            raise bad("event part must be application/json, got %r" % ev["content_type"])
        try:
            event = json.loads(ev["data"].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise bad("event.json: %s" % e)
        if not isinstance(event, dict):
            raise bad("event.json: not an object")
        if event.get("version") != "4":
            raise bad("event.json: version must be \"4\", got %r" % event.get("version"))
        for f in ("start", "end"):
            if f not in event:
                raise bad("event.json: no %s" % f)
        try:
            start, end = parse_rfc3339(event["start"]), parse_rfc3339(event["end"])
        except ValueError as e:
            raise bad("event.json: start/end: %s" % e)
        if start > end:
            raise bad("event.json: start after end")
        fam = event.get("family")
        if not isinstance(fam, str) or not fam:
            raise bad("event.json: family must be a non-empty string")
        tp = event.get("tags_profiler")
        if not isinstance(tp, str):
            raise bad("event.json: tags_profiler must be a string")
        att = event.get("attachments")
        if not isinstance(att, list) or not att or not all(isinstance(a, str) and a for a in att):
            raise bad("event.json: attachments must be a non-empty list of names")
        if len(set(att)) != len(att):
            raise bad("event.json: duplicate attachment")
        for a in att:
            if a not in by_name or a == "event":
                raise bad("attachment %r has no part" % a)

        tag_list = tp.split(",") if tp else []
        tags = {}
        for t in tag_list:
            err = tag_error(t)
            if err:
                raise bad("tags_profiler: " + err)
            k, _, v = t.partition(":")
            tags.setdefault(k, v)

        profiles, compressions, skipped = {}, {}, False
        for a in att:
            data = by_name[a]["data"]
            if len(data) > SKIP_BYTES:
                skipped = True
            raw, comp = decompress(data)
            compressions[a] = comp
            if a.endswith(".pprof"):
                prof = self.profile_pb2.Profile()
                try:
                    prof.ParseFromString(raw)
                except Exception as e:  # DecodeError, or invalid UTF-8 in a string
                    raise bad("%s: cannot parse pprof (%s)" % (a, e))
                check_pprof(prof, a)
                profiles[a] = prof
        main = "cpu.pprof" if "cpu.pprof" in profiles else next(iter(profiles), None)
        entry = dict(meta, event=event, tag_list=tag_list, tags=tags,
                     service=tags.get("service"), profiles=profiles,
                     profile=profiles.get(main) if main else None,
                     attachment_compression=compressions.get(main) if main else None,
                     compressions=compressions, start=start, end=end)
        with self._cond:
            if skipped:
                self.skipped.append(entry)
            else:
                self.received.append(entry)
            self._cond.notify_all()


class _Handler(FakeHandler):
    def _respond(self, path, headers, now):
        """(status, body, content type, headers), or a string when the
        request gets no answer ("hung", "closed")."""
        fake = self.fake
        # Read first, so an answer never races the client's upload.
        body = self._read_body(fake.body_limit)
        if body is None:
            self.close_connection = True
        try:
            action = fake._next_action()
            if action and action[0] == "hang":
                with fake._lock:
                    fake.hung += 1
                fake._stop.wait(action[1])
                return "hung"
            if action and action[0] == "close":
                with fake._lock:
                    fake.closed += 1
                return "closed"
            if action and action[0] == "fail":
                _, st, retry_after, message = action
                extra = {"Retry-After": retry_after} if retry_after is not None else {}
                raise Reject(st, message or "fake: injected failure %d" % st, extra)
            if path not in (AGENT_PATH, AGENTLESS_PATH):
                raise Reject(404, "Not Found")
            if body is None:
                raise Reject(413, "Request Entity Too Large")
            fake.handle(path, headers, body, {"path": path, "headers": headers, "time": now})
            status = 202 if path == AGENTLESS_PATH else 200
            return (status, b"{}", "application/json", None)
        except Reject as r:
            with fake._lock:
                fake.rejected.append((r.status, r.message))
            err = json.dumps({"errors": [r.message]}).encode()
            return (r.status, err, "application/json", r.headers)

    def do_POST(self):
        fake = self.fake
        now = time.time()
        path = self.path.partition("?")[0]
        answer = self._respond(path, self._headers(), now)
        with fake._lock:
            fake.requests.append({"path": path, "time": now,
                                  "status": answer if isinstance(answer, str) else answer[0]})
        if isinstance(answer, str):
            self.close_connection = True
            return
        self._answer(*answer)

    def do_GET(self):
        if self.path.partition("?")[0] in (AGENT_PATH, AGENTLESS_PATH):
            self._answer(405, b"", None, {"Allow": "POST"})
        else:
            self._answer(404, b"404 page not found\n", "text/plain")
