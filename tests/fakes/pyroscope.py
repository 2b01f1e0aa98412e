"""A test intake that answers like Grafana Pyroscope (the single binary with
its default limits), for the exporter's integration tests.

It serves, on 127.0.0.1 and a free port:
  POST /push.v1.PusherService/Push   push API v1 (Connect unary: application/proto
                                     or application/json, optional
                                     Content-Encoding: gzip)
  POST /ingest                       the legacy API, format=pprof only
and checks what the real server checks, in the same order, with the same
status codes and JSON error bodies {"code": ..., "message": ...}
(reference/WIRE.md, and the server's distributor and validation code):
  - tenant header when multi-tenancy is on (401 "no org id"), HTTP Basic or
    bearer credentials when configured (401);
  - the PushRequest and every pprof must decode; raw_profile gzipped or plain,
    at most 4 MiB once decompressed;
  - series labels: service_name added as "unknown_service" when missing or
    empty, at most 30 names (after adding the string labels of the samples,
    which the server makes series labels of), __name__ required and valid
    ("invalid metric name"), names of at most 1024 bytes, values of at most
    2048, valid UTF-8, no duplicate names; names are any UTF-8 (the server's
    default) or, with label_sanitization=True, [A-Za-z_.][A-Za-z0-9_.]*
    with dots read as '_';
  - profiles: a sample type (none: "empty profile"), time_nanos within 1 h
    in the past and 10 min in the future, at most 16,000 samples, at most
    100 labels per sample, one value per sample type, string_table[0] == "",
    string indexes in range, no '-' in sample type names, location and
    function ids not 0; stacks deeper than 1,000 locations are cut on the
    leaf side and strings longer than 65,535 bytes keep their last 65,535
    bytes (cut byte-wise), as the server stores them; then every string
    must be valid UTF-8 ("invalid utf8 string hex: ..."), so a cut inside a
    character refuses the profile as it does on the server;
  - ingestion rate 4 MiB/s with a burst of 2 MiB per tenant, a profile
    taken whole (labels + uncompressed size): 429;
  - a profile the server takes for Go (a pyroscope_spy naming Go, else the
    first string of its table that starts or ends with ".go" among other
    languages' patterns) goes through FixGoProfile: "[go.shape...]" type
    parameters dropped from names, and, with a sample type "cpu" and some
    stack of 60+ locations, stacks it takes for truncated get another
    stack's root-side locations appended (.received: repaired_stacks);
  - active series per tenant (5,000; a series is a label set, series
    labels plus a sample's string labels, times each sample type; active
    until unused for 10 min): a new one past the limit is 429
    resource_exhausted "Maximum active series limit exceeded (N/5000), ...";
  - /ingest: the name{k=v,...} grammar (400), app names [A-Za-z0-9_.-/],
    label names [A-Za-z0-9_.], a body that is a pprof (gzipped or plain; a
    multipart body fails to parse: 422), validation failures 422, the rate
    limit 429; its series get __name__ from the sample type, __delta__=false,
    pyroscope_spy=<spyName> and service_name=<app>.

Where the real server silently substitutes a default for something a client
should never send, the fake refuses it, so tests catch the client's bug:
  - /ingest: from/until must be digits only (10, 13, 16 or 19 of them: s, ms,
    us, ns) and sampleRate a non-negative integer (400); format other than
    pprof is 400 (the fake does not implement the other formats);
  - pprof ids must be unique per kind, and every id a sample or a line refers
    to must exist (400 malformed): the real server does not check this
    before storing, and its readers then misbehave;
  - a tenant or credentials other than the configured ones are 401.

Every accepted profile is recorded in .received (see _record), every refusal
in .rejected / .rejected_times; failures can be scripted with fail_next,
hang_next and close_next."""
import base64
import gzip
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import zlib

try:
    from .server import FakeHandler, FakeServer
except ImportError:  # imported as a top-level module
    from server import FakeHandler, FakeServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(ROOT, "proto")

PUSH_PATH = "/push.v1.PusherService/Push"
INGEST_PATH = "/ingest"

# The server's defaults (pkg/validation/limits.go).
MIB = 1 << 20
MAX_LABEL_NAMES = 30
MAX_LABEL_NAME_LEN = 1024
MAX_LABEL_VALUE_LEN = 2048
MAX_PROFILE_BYTES = 4 * MIB
MAX_SAMPLES = 16000
MAX_SAMPLE_LABELS = 100
MAX_DEPTH = 1000
MAX_SYMBOL_LEN = 65535
REJECT_OLDER_S = 3600
REJECT_NEWER_S = 600
RATE_BYTES = 4 * MIB
BURST_BYTES = 2 * MIB
# The ingester's active series per tenant (max_global_series_per_tenant:
# one ingester, replication factor 1), and how long a series stays active
# unused (pkg/ingester/limiter.go activeSeriesTimeout).
SERIES_LIMIT = 5000
SERIES_TIMEOUT_S = 600
SERIES_LIMIT_MSG = ("Maximum active series limit exceeded (%d/%d), reduce the number of active "
                    "streams (reduce labels or reduce label values), or contact your "
                    "administrator to see if the limit can be increased")
BODY_LIMIT = 256 * MIB

# Connect's HTTP statuses per code, and the reverse (for injected failures).
CONNECT_STATUS = {
    "canceled": 499, "unknown": 500, "invalid_argument": 400,
    "deadline_exceeded": 504, "not_found": 404, "already_exists": 409,
    "permission_denied": 403, "resource_exhausted": 429,
    "failed_precondition": 400, "aborted": 409, "out_of_range": 400,
    "unimplemented": 501, "internal": 500, "unavailable": 503, "data_loss": 500,
    "unauthenticated": 401,
}
HTTP_CODE = {400: "invalid_argument", 401: "unauthenticated", 403: "permission_denied",
             404: "unimplemented", 412: "failed_precondition", 413: "invalid_argument",
             429: "resource_exhausted", 431: "resource_exhausted", 499: "canceled",
             502: "unavailable", 503: "unavailable", 504: "deadline_exceeded"}

_pb2 = None
_pb2_lock = threading.Lock()


def pb2():
    """(push_pb2, types_pb2, profile_pb2), generated once per process from
    the repository's proto/ with protoc --python_out."""
    return _pb2_all()[:3]


def _pb2_all():
    """pb2() and profile_raw_pb2: profile.proto with its string table read
    as bytes (package ignis_fake_raw). The server's Go decoder does not
    check UTF-8 while decoding; ValidateProfile does, after cutting long
    strings, and answers with its own message: the fake reads the strings
    as bytes to do the same."""
    global _pb2
    with _pb2_lock:
        if _pb2 is None:
            out = tempfile.mkdtemp(prefix="ignis-fake-pb2-")
            with open(os.path.join(PROTO_DIR, "profile.proto")) as f:
                text = f.read()
            raw = text.replace("package perftools.profiles;", "package ignis_fake_raw;")
            raw = raw.replace("repeated string string_table", "repeated bytes string_table")
            assert raw.count("ignis_fake_raw") == 1 and "bytes string_table" in raw
            with open(os.path.join(out, "profile_raw.proto"), "w") as f:
                f.write(raw)
            subprocess.run(["protoc", "--python_out=" + out, "-I", PROTO_DIR,
                            "push.proto", "types.proto", "profile.proto"], check=True)
            subprocess.run(["protoc", "--python_out=" + out, "-I", out, "profile_raw.proto"],
                           check=True)
            sys.path.insert(0, out)
            try:
                _pb2 = tuple(importlib.import_module(m)
                             for m in ("push_pb2", "types_pb2", "profile_pb2",
                                       "profile_raw_pb2"))
            finally:
                sys.path.remove(out)
        return _pb2


class Reject(Exception):
    """An answer other than 200."""

    def __init__(self, status, message, code=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or HTTP_CODE.get(status, "unknown")
        self.headers = headers or {}


def invalid(message):
    return Reject(400, message, "invalid_argument")


def labels_string(pairs):
    return "{" + ", ".join('%s="%s"' % (n, v) for n, v in pairs) + "}"


def humanize_bytes(n):
    """go-humanize's Bytes (SI units), as the server's messages print sizes."""
    if n < 10:
        return "%d B" % n
    units = ["B", "kB", "MB", "GB", "TB"]
    e = 0
    v = float(n)
    while v >= 1000 and e < len(units) - 1:
        v /= 1000
        e += 1
    return ("%.0f %s" if v >= 10 else "%.1f %s") % (v, units[e])


def utf8_len(s):
    return len(s.encode("utf-8", "surrogatepass"))


def valid_utf8(s):
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def legacy_label_name(name):
    """SanitizeLegacyLabelName: (sanitized, ok). [A-Za-z_.][A-Za-z0-9_.]*,
    dots read as underscores."""
    if not name:
        return name, False
    for i, c in enumerate(name):
        if not (("a" <= c <= "z") or ("A" <= c <= "Z") or c == "_" or
                ("0" <= c <= "9" and i > 0) or c == "."):
            return name, False
    return name.replace(".", "_"), True


def decompress(data, limit):
    """RawFromBytesWithLimit: gzip when it starts with the gzip magic, else
    plain; more than limit bytes is refused."""
    if data[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = d.decompress(data, limit + 1)
        except zlib.error as e:
            raise ValueError("gzip: %s" % e)
        if len(out) > limit:
            raise OverflowError()
        if not d.eof:
            raise ValueError("gzip: unexpected EOF")
        return out
    if len(data) > limit:
        raise OverflowError()
    return data


def parse_query(qs):
    """Go's url.ParseQuery: '&'-separated pairs, '+' is a blank, a pair with
    a bad escape or a ';' is dropped. The first value of each key."""
    out = {}
    for pair in qs.split("&"):
        if not pair or ";" in pair:
            continue
        k, _, v = pair.partition("=")
        try:
            k, v = _unescape(k), _unescape(v)
        except ValueError:
            continue
        out.setdefault(k, v)
    return out


def _unescape(s):
    b = bytearray()
    i = 0
    raw = s.encode("utf-8")
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # %
            h = raw[i + 1:i + 3]
            if len(h) != 2 or not all(x in b"0123456789abcdefABCDEF" for x in h):
                raise ValueError("bad escape")
            b.append(int(h, 16))
            i += 3
        elif c == 0x2B:  # +
            b.append(0x20)
            i += 1
        else:
            b.append(c)
            i += 1
    return b.decode("utf-8", "surrogateescape")


def _service_name_error(n):
    if not n:
        return "service name is required"
    for c in n:
        if not (c.isascii() and (c.isalnum() or c in "_.-/")):
            return "invalid service name: %s: character is not allowed: %r" % (n, c)
    return None


def _label_name_error(k):
    if not k:
        return "label name is required"
    for c in k:
        if not (c.isascii() and (c.isalnum() or c in "_.")):
            return "invalid label name: %s: character is not allowed: %r" % (k, c)
    return None


def parse_labelset(name):
    """The server's labelset.Parse of /ingest's name=APP{k=v,...}: the app
    name lands in __name__. Raises Reject(400)."""
    labels = {}
    state, key, value = "name", [], []
    for r in name + "{":
        if state == "name":
            if r == "{":
                state = "set"
                app = "".join(value).strip()
                err = _service_name_error(app)
                if err:
                    raise invalid("name: " + err)
                labels["__name__"] = app
            else:
                value.append(r)
        elif state == "set":
            if r == "}":
                state = "done"
            elif r == "=":
                state = "value"
                value = []
            else:
                key.append(r)
        elif state == "value":
            if r in ",}":
                state = "set"
                k = "".join(key).strip()
                if k != "__name__":
                    err = _label_name_error(k)
                    if err:
                        raise invalid("name: " + err)
                labels[k] = "".join(value).strip()
                key = []
            else:
                value.append(r)
    return labels


def parse_time(s):
    """from/until: digits only, the count of digits giving the unit."""
    if not re.fullmatch(r"[0-9]+", s):
        raise invalid("fake: from/until must be digits only, got %r" % s)
    v = int(s)
    n = len(s)
    if n == 13:
        return v / 1e3
    if n == 16:
        return v / 1e6
    if n == 19:
        return v / 1e9
    if n == 10:
        return float(v)
    raise invalid("fake: from/until %r: 10, 13, 16 or 19 digits (s, ms, us, ns)" % s)


def metric_name(prof):
    """What /ingest names a pprof's profile type after its sample types."""
    st = list(prof.string_table)
    types = [st[t.type] if 0 <= t.type < len(st) else "" for t in prof.sample_type]
    if "wall" in types:
        return "wall"
    last = ""
    for t in types:
        last = t
        if "cpu" in t:
            return "process_cpu"
        if "alloc_" in t or "inuse_" in t or t in ("space", "objects"):
            return "memory"
        if "mutex_" in t:
            return "mutex"
        if "block_" in t:
            return "block"
        if "goroutines" in t:
            return "goroutines"
    return last


# ---- FixGoProfile (pkg/pprof/fix_go_profile.go, fix_go_truncated.go) --------
# The distributor guesses a profile's language (pkg/distributor/model/push.go,
# pkg/pprof/pprof.go GetLanguage) and, for Go, drops type parameters from
# names and "repairs" stacks it takes for truncated before storing them.

SPY_LANGUAGES = {"dotnetspy": "dotnet", "gospy": "go", "phpspy": "php", "pyspy": "python",
                 "rbspy": "ruby", "nodespy": "nodejs", "javaspy": "java",
                 "grafana-agent.java": "java", "pyroscope-rs": "rust"}
LANGUAGE_PATTERNS = [("go", (".go", "/usr/local/go/")), ("java", ("java/", "sun/")),
                     ("ruby", (".rb", "gems/")), ("nodejs", ("./node_modules/", ".js")),
                     ("dotnet", ("System.", "Microsoft.")), ("python", (".py",)),
                     ("rust", ("main.rs", "core.rs"))]
GO_SHAPE = "[go.shape."
_SUFFIX_LEN, _TOKEN_LEN, _TOKENS, _MAX_RECURSIVE = 24, 16, 8, 56


def profile_language(pairs, prof):
    """GetProfileLanguage: the pyroscope_spy label's language, else the first
    string (in string table order) that starts or ends with a pattern."""
    spy = SPY_LANGUAGES.get(dict(pairs).get("pyroscope_spy", ""), "")
    if spy:
        return spy
    for sym in prof.string_table:
        for lang, patterns in LANGUAGE_PATTERNS:
            if any(sym.startswith(p) or sym.endswith(p) for p in patterns):
                return lang
    return "unknown"


def _drop_go_type_parameters(s):
    if GO_SHAPE not in s:
        return s
    out, i = [], 0
    while i < len(s):
        start = s.find(GO_SHAPE, i)
        if start < 0:
            out.append(s[i:])
            break
        out.append(s[i:start])
        depth, j = 0, start
        while j < len(s):
            if s[j] == "[":
                depth += 1
            elif s[j] == "]":
                depth -= 1
                if depth == 0:
                    i = j + 1
                    break
            j += 1
        if depth != 0:
            out.append(s[i:])
            break
    return "".join(out)


def _potential_truncated(prof):
    st = prof.string_table
    types = {st[t.type] for t in prof.sample_type}
    if types & {"alloc_objects", "alloc_space", "inuse_objects", "inuse_space"}:
        min_depth, max_depth = 32, 33
    elif "cpu" in types:
        min_depth, max_depth = 64, 0
    else:
        return False
    min_depth -= 4
    deep = False
    for smp in prof.sample:
        if len(smp.location_id) >= min_depth:
            deep = True
        if max_depth and len(smp.location_id) >= max_depth:
            return False
    return deep


def repair_go_truncated(prof):
    """RepairGoTruncatedStacktraces: samples grouped by their 24 root-most
    locations; a group whose 16 root-most locations appear in another
    group's suffix j (1..8) locations above its root is taken for cut and
    gets that group's missing root-side locations appended (chained, at
    most 56 links). Sorts prof.sample as the server does. The number of
    samples changed."""
    samples = sorted(prof.sample, key=lambda x: (len(x.location_id) >= _SUFFIX_LEN,
                                                 _loc_bytes(x.location_id[-_SUFFIX_LEN:])
                                                 if len(x.location_id) >= _SUFFIX_LEN else b""))
    ordered = [(list(x.location_id), list(x.value), list(x.label)) for x in samples]
    del prof.sample[:]
    for ids, values, labels in ordered:
        smp = prof.sample.add()
        smp.location_id.extend(ids)
        smp.value.extend(values)
        smp.label.extend(labels)
    o = next((i for i, x in enumerate(prof.sample) if len(x.location_id) >= _SUFFIX_LEN),
             len(prof.sample))
    samples = list(prof.sample)[o:]
    if not samples:
        return 0
    groups, prev = [], None
    for i, x in enumerate(samples):
        cur = _loc_bytes(x.location_id[-_SUFFIX_LEN:])
        if cur != prev:
            groups.append(i)
            prev = cur
    m = {}
    for i, g in enumerate(groups):
        sfx = _loc_bytes(samples[g].location_id[-_SUFFIX_LEN:])
        for j in range(1, _TOKENS + 1):
            hi = (_SUFFIX_LEN - j) * 8
            k = sfx[hi - _TOKEN_LEN * 8:hi]
            c = m.get(k)
            if c is None or j > c[1]:
                m[k] = (i + 1, j)
    d = [(0, 0)] * len(groups)
    for i, g in enumerate(groups):
        c = m.get(_loc_bytes(samples[g].location_id[-_TOKEN_LEN:]))
        if c is None or c[0] - 1 == i:
            continue
        d[i] = c
    changed = 0
    for i, g in enumerate(groups):
        c, off, j = d[i], 0, 0
        while c[0] > 0 and c[1] > 0:
            off += c[1]
            n = d[c[0] - 1]
            if n[0] == 0 or c[1] == 0:
                break
            c = n
            j += 1
            if j == _MAX_RECURSIVE:
                return changed
        if off == 0:
            continue
        appx = list(samples[groups[c[0] - 1]].location_id)
        if off >= len(appx):
            continue
        appx = appx[len(appx) - off:]
        end = groups[i + 1] if i + 1 < len(groups) else len(samples)
        for x in samples[g:end]:
            x.location_id.extend(appx)
            changed += 1
    return changed


def _loc_bytes(ids):
    return b"".join(int(x).to_bytes(8, "little") for x in ids)


def fix_go_profile(prof):
    """FixGoProfile: type parameters dropped from names, then the repair when
    some stack is deep enough to have been cut (cpu: 60 locations). The
    number of samples whose stacks were changed."""
    for i, s in enumerate(prof.string_table):
        c = _drop_go_type_parameters(s)
        if c != s:
            prof.string_table[i] = c
    if _potential_truncated(prof):
        return repair_go_truncated(prof)
    return 0


class _TokenBucket:
    """golang.org/x/time/rate's AllowN: n > burst is never allowed."""

    def __init__(self, rate, burst):
        self.rate, self.burst = rate, burst
        self.tokens, self.last = float(burst), time.monotonic()

    def allow(self, n):
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if n > self.tokens:
            return False
        self.tokens -= n
        return True


class FakePyroscope(FakeServer):
    """with FakePyroscope() as fp: point a client at fp.url, then inspect
    fp.received (one dict per stored profile: path, headers (lower-case
    names), labels (the series labels as the server keeps them), label_pairs
    (as sent, or as /ingest derived them), sample_series (label sets after the
    per-sample labels were added, with their sample counts), profile
    (profile_pb2.Profile as stored), id, query, tenant, time, raw_size,
    truncated_stacks, language (as the server guessed it), repaired_stacks
    (samples FixGoProfile changed)), fp.rejected [(status, message)], fp.rejected_times,
    fp.requests (every request: path, status, time)."""

    def __init__(self, tenant=None, basic_auth=None, bearer_token=None,
                 label_sanitization=False, rate_limit=True, series_limit=SERIES_LIMIT,
                 series_timeout=SERIES_TIMEOUT_S):
        """tenant: None (multi-tenancy off), True (any X-Scope-OrgID, 401
        without), or the one expected. basic_auth: (user, password).
        series_limit: active series per tenant (0: none), a series being one
        label set (the series labels and a sample's string labels) and one
        sample type; series_timeout: seconds a series stays active unused."""
        self.push_pb2, self.types_pb2, self.profile_pb2, self.profile_raw_pb2 = _pb2_all()
        self.tenant = tenant
        self.basic_auth = basic_auth
        self.bearer_token = bearer_token
        self.label_sanitization = label_sanitization
        self.rate_limit = rate_limit
        self.series_limit = series_limit
        self.series_timeout = series_timeout
        self.active_series = {}   # tenant -> {series key: last used (monotonic)}
        super().__init__()
        self.Handler = _Handler
        self.rejected_times = []
        self.empty = 0   # accepted profiles with no samples: not stored
        self.hung = 0
        self.closed = 0
        self._buckets = {}

    # ---- checks shared by both APIs ---------------------------------------

    def _authenticate(self, headers):
        """Credentials (a gateway's job), then the tenant (the server's)."""
        auth = headers.get("authorization")
        if self.basic_auth is not None:
            want = "Basic " + base64.b64encode(
                ("%s:%s" % self.basic_auth).encode()).decode()
            if auth != want:
                raise Reject(401, "invalid authentication credentials", "unauthenticated")
        if self.bearer_token is not None and auth != "Bearer " + self.bearer_token:
            raise Reject(401, "invalid authentication credentials", "unauthenticated")
        org = headers.get("x-scope-orgid")
        if self.tenant is None:
            return "anonymous"
        if not org:
            raise Reject(401, "no org id", "unauthenticated")
        if self.tenant is not True and org != self.tenant:
            raise Reject(401, "fake: unexpected org id %r" % org, "unauthenticated")
        return org

    def _parse_pprof(self, data):
        """(Profile, uncompressed size, the first string that is not UTF-8
        once cut or None); raises Reject(400). Strings over 65,535 bytes
        keep their last 65,535 bytes, cut byte-wise as the server does
        (ValidateProfile): a cut inside a character makes the string
        invalid, which _validate_profile refuses."""
        try:
            raw = decompress(data, MAX_PROFILE_BYTES)
        except OverflowError:
            raise invalid("uncompressed profile payload size exceeds limit of %s"
                          % humanize_bytes(MAX_PROFILE_BYTES))
        except ValueError as e:
            raise invalid(str(e))
        lenient = self.profile_raw_pb2.Profile()
        try:
            lenient.ParseFromString(raw)
        except Exception as e:  # DecodeError
            raise invalid("proto: cannot parse invalid wire-format data (%s)" % e)
        strings, bad = [], None
        for b in lenient.string_table:
            if len(b) > MAX_SYMBOL_LEN:
                b = b[len(b) - MAX_SYMBOL_LEN:]
            try:
                strings.append(b.decode("utf-8"))
            except UnicodeDecodeError:
                bad = b if bad is None else bad
                strings.append(b.decode("utf-8", "replace"))
        lenient.ClearField("string_table")
        prof = self.profile_pb2.Profile()
        prof.ParseFromString(lenient.SerializeToString())
        prof.string_table.extend(strings)
        return prof, len(raw), bad

    def _validate_profile(self, prof, size, pairs, bad_utf8=None):
        """ValidateProfile, plus the fake's id checks; cuts deep stacks and
        long strings as the server stores them. The number of stacks cut."""
        ls = labels_string(pairs)
        if not prof.sample_type:
            raise invalid("empty profile")
        now = time.time()
        if prof.time_nanos > 0:
            t = prof.time_nanos / 1e9
            lo, hi = now - REJECT_OLDER_S, now + REJECT_NEWER_S
            if not (lo < t < hi):
                raise invalid(
                    "profile with labels '%s' is outside of ingestion window (profile "
                    "timestamp: %s, the ingestion window starts at %s and ends at %s)"
                    % (ls, _fmt_ms(t), _fmt_ms(lo), _fmt_ms(hi)))
        else:
            prof.time_nanos = int(now * 1e9)
        if size > MAX_PROFILE_BYTES:
            raise invalid("the profile with labels '%s' exceeds the size limit "
                          "(max_profile_size_byte, actual: %d, limit: %d)"
                          % (ls, size, MAX_PROFILE_BYTES))
        if len(prof.sample) > MAX_SAMPLES:
            raise invalid("the profile with labels '%s' exceeds the samples count limit "
                          "(max_profile_stacktrace_samples, actual: %d, limit: %d)"
                          % (ls, len(prof.sample), MAX_SAMPLES))
        cut = 0
        for s in prof.sample:
            if len(s.location_id) > MAX_DEPTH:
                # The server keeps the root side: location_id[0] is the leaf.
                keep = list(s.location_id[len(s.location_id) - MAX_DEPTH:])
                del s.location_id[:]
                s.location_id.extend(keep)
                cut += 1
            if len(s.label) > MAX_SAMPLE_LABELS:
                raise invalid("the profile with labels '%s' exceeds the sample labels limit "
                              "(max_profile_stacktrace_sample_labels, actual: %d, limit: %d)"
                              % (ls, len(s.label), MAX_SAMPLE_LABELS))
        for loc in prof.location:
            if loc.id == 0:
                raise invalid("location id is 0")
        for fn in prof.function:
            if fn.id == 0:
                raise invalid("function id is 0")
        for s in prof.sample:
            if len(s.value) != len(prof.sample_type):
                raise invalid("sample value length mismatch")
        self._check_strings(prof)
        for vt in prof.sample_type:
            if "-" in prof.string_table[vt.type]:
                raise invalid("sample type contains -")
        if bad_utf8 is not None:
            raise invalid("invalid utf8 string hex: %s" % bad_utf8.hex())
        self._check_ids(prof)
        return cut

    @staticmethod
    def _check_strings(prof):
        n = len(prof.string_table)
        if n == 0 or prof.string_table[0] != "":
            raise invalid("string 0 should be empty string")
        for vt in prof.sample_type:
            if not 0 <= vt.type < n:
                raise invalid("sample type type string index out of range")
        for s in prof.sample:
            for lb in s.label:
                if not (0 <= lb.str < n and 0 <= lb.key < n):
                    raise invalid("sample label string index out of range")
        for fn in prof.function:
            if not 0 <= fn.name < n:
                raise invalid("function name string index out of range")
            if not 0 <= fn.system_name < n:
                raise invalid("function system name index string out of range")
            if not 0 <= fn.filename < n:
                raise invalid("function file name string index out of range")
        for m in prof.mapping:
            if not 0 <= m.filename < n:
                raise invalid("mapping file name string index out of range")
            if not 0 <= m.build_id < n:
                raise invalid("mapping build id string index out of range")

    @staticmethod
    def _check_ids(prof):
        """The fake's own: unique ids, and every reference resolves."""
        for kind, items in (("mapping", prof.mapping), ("location", prof.location),
                            ("function", prof.function)):
            ids = [x.id for x in items]
            if len(set(ids)) != len(ids):
                raise invalid("fake: malformed profile: duplicate %s id" % kind)
            if 0 in ids:
                raise invalid("fake: malformed profile: %s id is 0" % kind)
        maps = {m.id for m in prof.mapping}
        locs = {loc.id for loc in prof.location}
        fns = {f.id for f in prof.function}
        for loc in prof.location:
            if loc.mapping_id and loc.mapping_id not in maps:
                raise invalid("fake: malformed profile: location %d: no mapping %d"
                              % (loc.id, loc.mapping_id))
            for ln in loc.line:
                if ln.function_id not in fns:
                    raise invalid("fake: malformed profile: location %d: no function %d"
                                  % (loc.id, ln.function_id))
        for s in prof.sample:
            for lid in s.location_id:
                if lid not in locs:
                    raise invalid("fake: malformed profile: sample refers to no location %d"
                                  % lid)

    def _validate_labels(self, pairs):
        """ValidateLabels: the label set as the server keeps it, sorted."""
        if not pairs:
            raise invalid("error at least one label pair is required per profile")
        ls = sorted(pairs, key=lambda p: p[0])
        if len(ls) > MAX_LABEL_NAMES:
            raise invalid("profile series '%s' has %d label names; limit %d"
                          % (labels_string(ls), len(ls), MAX_LABEL_NAMES))
        d = dict(ls)
        name = d.get("__name__", "")
        if not name or not valid_utf8(name):
            raise invalid("invalid labels '%s' with error: invalid metric name"
                          % labels_string(ls))
        if not d.get("service_name", ""):
            raise invalid("invalid labels '%s' with error: service name is not provided"
                          % labels_string(ls))
        out = []
        for n, v in ls:
            if utf8_len(n) > MAX_LABEL_NAME_LEN:
                raise invalid("profile with labels '%s' has label name too long: '%s'"
                              % (labels_string(ls), n))
            if utf8_len(v) > MAX_LABEL_VALUE_LEN:
                raise invalid("profile with labels '%s' has label value too long: '%s'"
                              % (labels_string(ls), v))
            if self.label_sanitization:
                new, ok = legacy_label_name(n)
                if not ok:
                    raise invalid("invalid labels '%s' with error: invalid label name '%s'"
                                  % (labels_string(ls), n))
                if new != n:
                    prev = [p for p in out if p[0] == new] + [p for p in ls if p[0] == new]
                    if prev and any(p[1] != v for p in prev):
                        raise invalid("profile with labels '%s' has duplicate label name '%s' "
                                      "after label name sanitization from '%s'"
                                      % (labels_string(ls), new, n))
                    if prev:
                        continue
                    n = new
            elif not n or not valid_utf8(n):
                raise invalid("invalid labels '%s' with error: invalid label name '%s'"
                              % (labels_string(ls), n))
            if not valid_utf8(v):
                raise invalid("invalid labels '%s' with error: invalid label value '%s'"
                              % (labels_string(ls), v))
            if any(p[0] == n for p in out):
                raise invalid("profile with labels '%s' has duplicate label name: '%s'"
                              % (labels_string(ls), n))
            out.append((n, v))
        return sorted(out, key=lambda p: p[0])

    def _sample_series(self, prof, pairs):
        """The label sets the samples land in: the series labels plus each
        sample's string labels that the series does not have (trace_id,
        span_id and profile_id stay per sample). [(labels, samples)]."""
        st = prof.string_table
        names = {n for n, _ in pairs}
        groups = {}
        for s in prof.sample:
            extra = []
            for lb in s.label:
                k = st[lb.key]
                if lb.str <= 0 or k in ("trace_id", "span_id", "profile_id") or k in names:
                    continue
                if any(e[0] == k for e in extra):
                    continue
                extra.append((k, st[lb.str]))
            key = tuple(sorted(extra))
            groups[key] = groups.get(key, 0) + 1
        return [(list(pairs) + list(k), n) for k, n in groups.items()]

    def _push_series(self, tenant, pairs, prof, size, meta, bad_utf8=None):
        """pushSeries: service name, rate limit, validation, labels per
        group of samples; stores the profile."""
        if not dict(pairs).get("service_name", ""):
            pairs = list(pairs) + [("service_name", "unknown_service")]
        total = sum(utf8_len(n) + utf8_len(v) for n, v in pairs) + size
        if self.rate_limit:
            with self._lock:
                b = self._buckets.setdefault(tenant, _TokenBucket(RATE_BYTES, BURST_BYTES))
                ok = b.allow(total)
            if not ok:
                raise Reject(429, "push rate limit (%s) exceeded while adding %s"
                             % (_ibytes(RATE_BYTES), _ibytes(total)), "resource_exhausted")
        cut = self._validate_profile(prof, size, pairs, bad_utf8)
        language = profile_language(pairs, prof)
        repaired = fix_go_profile(prof) if language == "go" else 0
        if not prof.sample:
            with self._lock:
                self.empty += 1
            return
        groups = []
        for ls, n in self._sample_series(prof, pairs):
            groups.append((dict(self._validate_labels(ls)), n))
        self._allow_series(tenant, prof, groups)
        labels = dict(sorted(pairs, key=lambda p: p[0]))
        self._record(dict(meta, labels=labels, label_pairs=list(pairs),
                          sample_series=[dict(g, samples=n) for g, n in groups],
                          profile=prof, raw_size=size, truncated_stacks=cut, tenant=tenant,
                          language=language, repaired_stacks=repaired))

    def _allow_series(self, tenant, prof, groups):
        """The ingester's limiter (pkg/phlaredb/head.go Ingest, pkg/ingester/
        limiter.go): each label set is one series per sample type (labels
        plus the profile type, CreateProfileLabels); one not active yet is
        refused once the tenant has series_limit active ones, 429
        resource_exhausted (ingester.go Push). Series found active are
        refreshed, new ones before the refused one stay counted, as on the
        server; the fake then stores nothing of the profile (the server
        may have stored the groups before the refused one)."""
        if not self.series_limit:
            return
        st = prof.string_table
        pt = (st[prof.period_type.type], st[prof.period_type.unit]) if prof.HasField(
            "period_type") else ("", "")
        now = time.monotonic()
        with self._lock:
            active = self.active_series.setdefault(tenant, {})
            for k in [k for k, t in active.items() if now - t > self.series_timeout]:
                del active[k]
            for labels, _ in groups:
                for vt in prof.sample_type:
                    key = (tuple(sorted(labels.items())), st[vt.type], st[vt.unit]) + pt
                    if key not in active and len(active) >= self.series_limit:
                        raise Reject(429, SERIES_LIMIT_MSG % (len(active), self.series_limit),
                                     "resource_exhausted")
                    active[key] = now

    def _record(self, entry):
        with self._cond:
            self.received.append(entry)
            self._cond.notify_all()

    # ---- the two APIs -----------------------------------------------------

    def handle_push(self, headers, body, meta):
        # The tenant middleware runs before the Connect handler.
        tenant = self._authenticate(headers)
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/proto", "application/json"):
            raise Reject(415, "invalid content-type: %r; expecting \"application/proto\" "
                         "or \"application/json\"" % ctype, "unknown")
        version = headers.get("connect-protocol-version")
        if version is not None and version != "1":
            raise invalid("connect-protocol-version must be \"1\": got %r" % version)
        enc = headers.get("content-encoding", "identity").lower()
        if enc == "gzip":
            try:
                body = decompress(body, BODY_LIMIT)
            except (OverflowError, ValueError) as e:
                raise invalid("decompress message: %s" % (e or "too large"))
        elif enc != "identity":
            raise Reject(501, "unknown compression %r: supported encodings are gzip" % enc,
                         "unimplemented")
        req = self.push_pb2.PushRequest()
        try:
            if ctype == "application/json":
                from google.protobuf import json_format
                json_format.Parse(body.decode("utf-8"), req)
            else:
                req.ParseFromString(body)
        except Exception as e:
            raise invalid("unmarshal into *v1.PushRequest: %s" % e)

        parsed, errors, used = [], [], 0
        for series in req.series:
            pairs = [(lp.name, lp.value) for lp in series.labels]
            for sample in series.samples:
                try:
                    prof, size, bad = self._parse_pprof(sample.raw_profile)
                except Reject as r:
                    errors.append(r)
                    continue
                used += size
                if used > BODY_LIMIT:
                    raise invalid("uncompressed batched profile payload size exceeds limit of %s"
                                  % humanize_bytes(BODY_LIMIT))
                parsed.append((pairs, prof, size, sample.ID, bad))
        if not parsed:
            if errors:
                raise errors[0]
            raise invalid("no profiles received")
        # Each profile stands alone: the valid ones are stored even when
        # another one of the request fails, which then fails the request.
        for i, (pairs, prof, size, pid, bad) in enumerate(parsed):
            try:
                self._push_series(tenant, pairs, prof, size, dict(meta, id=pid, query=None), bad)
            except Reject as r:
                r.message = "push series with index %d and id %s failed: %s" % (i, pid, r.message)
                errors.append(r)
        if errors:
            raise errors[0]

    def handle_ingest(self, headers, body, query, meta):
        tenant = self._authenticate(headers)
        q = parse_query(query)
        labelset = parse_labelset(q.get("name", ""))
        start = parse_time(q["from"]) if q.get("from", "") != "" else time.time()
        if q.get("until", "") != "":
            parse_time(q["until"])
        rate = q.get("sampleRate", "")
        if rate != "" and not re.fullmatch(r"[0-9]+", rate):
            raise invalid("fake: sampleRate must be a non-negative integer, got %r" % rate)
        if q.get("format", "") != "pprof":
            raise invalid("fake: only format=pprof is implemented, got %r" % q.get("format", ""))
        spy = q.get("spyName", "") or "unknown"
        if not body:
            return  # nothing to ingest: 200
        try:
            prof, size, bad = self._parse_pprof(body)
        except Reject as r:
            raise Reject(422, "parsing IngestInput-pprof failed invalid_argument: " + r.message,
                         "unknown")
        # fixTime: old clients sent microseconds or nothing.
        if time.gmtime(prof.time_nanos / 1e9).tm_year == 1970:
            prof.time_nanos = int(start * 1e9)
        pairs = [("__name__", metric_name(prof)), ("__delta__", "false"),
                 ("pyroscope_spy", spy)]
        if "service_name" not in labelset:
            pairs.append(("service_name", labelset["__name__"]))
        pairs += [(k, v) for k, v in labelset.items()
                  if not k.startswith("__") or k == "__session_id__"]
        try:
            self._push_series(tenant, pairs, prof, size, dict(meta, id=None, query=q), bad)
        except Reject as r:
            if r.status == 429:
                raise
            raise Reject(422, "pushing IngestInput-pprof failed push series with index 0 "
                         "and id  failed: invalid_argument: " + r.message, "unknown")


def _fmt_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int(t % 1 * 1000)


def _ibytes(n):
    v = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024 or unit == "GiB":
            return ("%.0f %s" if unit == "B" or v >= 10 else "%.1f %s") % (v, unit)
        v /= 1024
    return "%d B" % n


class _Handler(FakeHandler):
    def _error(self, r, now):
        """The answer to a refusal, recorded."""
        fake = self.fake
        with fake._lock:
            fake.rejected.append((r.status, r.message))
            fake.rejected_times.append(now)
        body = json.dumps({"code": r.code, "message": r.message}).encode() + b"\n"
        return (r.status, body, "application/json",
                dict({"X-Content-Type-Options": "nosniff"}, **r.headers))

    def _respond(self, path, query, body, headers, now):
        """(status, body, content type, headers), or a string when the
        request gets no answer ("hung", "closed")."""
        fake = self.fake
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
                raise Reject(st, message or "fake: injected failure %d" % st, None, extra)
            if body is None:
                raise Reject(413, "request body too large", "invalid_argument")
            meta = {"path": path, "headers": headers, "time": now}
            if path == PUSH_PATH:
                fake.handle_push(headers, body, meta)
                return (200, b"", "application/proto", None)
            if path in (INGEST_PATH, "/pyroscope/ingest"):
                fake.handle_ingest(headers, body, query, meta)
                return (200, b"", None, None)
            raise Reject(404, "404 page not found", "unimplemented")
        except Reject as r:
            return self._error(r, now)

    def do_POST(self):
        fake = self.fake
        now = time.time()
        path, _, query = self.path.partition("?")
        body = self._read_body(BODY_LIMIT)
        answer = self._respond(path, query, body, self._headers(), now)
        # Recorded before the client can see the answer.
        with fake._lock:
            fake.requests.append({"path": path, "time": now,
                                  "status": answer if isinstance(answer, str) else answer[0]})
        if isinstance(answer, str):
            self.close_connection = True
            return
        self._answer(*answer)

    def do_GET(self):
        if self.path == "/ready":
            self._answer(200, b"ready\n", "text/plain")
        elif self.path.partition("?")[0] in (PUSH_PATH, INGEST_PATH):
            self._answer(405, b"", None, {"Allow": "POST"})
        else:
            self._answer(404, b"404 page not found\n", "text/plain")
