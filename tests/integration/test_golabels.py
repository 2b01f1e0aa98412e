"""Go pprof labels on samples: a Go program built here with each Go toolchain
the machine has (1.19, 1.21, 1.23: conftest.GO_VERSIONS;
tests/workloads/go_labels.go, standard library only) runs its work under
pprof.Do with the span labels tracers set. Real BPF reads the labels of the
goroutine each sample interrupted; the test checks `record`'s pprof, the
file destination, and what the Pyroscope and Datadog test intakes receive."""
import glob
import gzip
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import GO_VERSIONS, ROOT, WORKLOADS, go_build, load_pprof, run_ignis
from test_agent import Agent, write_config

sys.path.insert(0, os.path.join(ROOT, "tests"))
from fakes.datadog import FakeDatadog  # noqa: E402
from fakes.otlp import FakeOTLP  # noqa: E402
from fakes.pyroscope import FakePyroscope  # noqa: E402

SRC = os.path.join(ROOT, "tests", "workloads", "go_labels.go")
HZ = 199
MAX_LABELS = 10  # IGNIS_GO_MAX_LABELS
# What go_layout.c sets; go_labels.go sets span_name too.
TRACE_KEYS = {"span_id", "span id", "local root span id", "trace_id", "trace endpoint"}
WORK = ("main.labeledWork", "main.unlabeledWork", "main.manyLabelsWork")


@pytest.fixture(scope="module")
def go_labels_of():
    """go_labels built by a Go version (once per version), or the test
    skipped when this machine lacks that Go."""
    d = tempfile.mkdtemp(prefix="ignis-golabels-")
    built = {}

    def build(version):
        if version not in built:
            os.makedirs(os.path.join(d, version))
            built[version] = go_build(version, SRC, os.path.join(d, version, "go_labels"))
        return built[version]

    yield build
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def go_labels(go_labels_of):
    """Built by Debian's Go (1.19), for the slower tests."""
    return go_labels_of("1.19")


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="ignis-golabels-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def samples(prof, value_index=0):
    """[(function names leaf first, {label key: str value}, count)]"""
    st = prof.string_table
    fn = {f.id: st[f.name] for f in prof.function}
    loc = {l.id: [fn[x.function_id] for x in l.line] for l in prof.location}
    out = []
    for s in prof.sample:
        names = [n for lid in s.location_id for n in loc[lid]]
        labels = {}
        for lb in s.label:
            assert st[lb.key] not in labels, "label %r twice on a sample" % st[lb.key]
            labels[st[lb.key]] = st[lb.str] if lb.str else lb.num
        out.append((names, labels, s.value[value_index]))
    return out


def work_of(names):
    return next((w for w in WORK if w in names), None)


def check_span(labels):
    """The labels of one goroutine's span, all from the same pprof.Do:
    every spelling of the span id agrees with the others."""
    span = int(labels["span id"])
    assert labels["span_id"] == "%016x" % span, labels
    assert labels["local root span id"] == str(span - span % 100000), labels
    assert labels["trace_id"] == "%032x" % (span * 7), labels
    assert labels["trace endpoint"] == "GET /work", labels
    return span


def printed_spans(stdout):
    return {int(m) for m in re.findall(r"^span \d+ \d+ (\d+)$", stdout, re.M)}


def record(exe, outdir, *args, unwind="kernel"):
    r = run_ignis("record", "--frequency", HZ, "--unwind", unwind, "--output", outdir,
                  "--top", 0, "--", exe, *args, timeout=120)
    assert r.returncode == 0, r.stderr
    return r


# Every Go version through the kernel's walk; the copy path (the same label
# read, another order of records) on Debian's.
@pytest.mark.parametrize("version,unwind", [(v, "kernel") for v in GO_VERSIONS] +
                         [("1.19", "copy")])
def test_record_carries_the_active_span_labels(go_labels_of, tmp, pprof_pb2, version, unwind):
    """Both sampling paths send the labels before their sample, for a
    program of each Go version (the offsets and label set of its own
    runtime)."""
    go_labels = go_labels_of(version)
    r = record(go_labels, tmp, 6, 2, 0, unwind=unwind)
    assert re.search(r"golabels: a go%s\.\d+\S* program: pprof labels read"
                     % re.escape(version), r.stderr), r.stderr
    started = printed_spans(r.stdout)
    prof = load_pprof(pprof_pb2, os.path.join(tmp, "profile.pb.gz"))
    labeled = total = 0
    spans = {}
    unlabeled = 0
    for names, labels, count in samples(prof):
        program = {k: v for k, v in labels.items() if k not in ("pid", "comm")}
        work = work_of(names)
        if work == "main.labeledWork":
            total += count
            if program:
                # "custom" is not kept: not trace context, not in go_labels
                assert set(program) == TRACE_KEYS | {"span_name"}, program
                assert program["span_name"] == "work"
                span = check_span(program)
                assert span in started, (span, sorted(started)[:5])
                spans[span] = spans.get(span, 0) + count
                labeled += count
        elif work == "main.unlabeledWork":
            unlabeled += count
            assert not program, "a goroutine without labels got %r" % program
    assert total >= 50, "too few samples of the labeled work: %d" % total
    assert labeled >= 0.9 * total, "%d of %d samples carry their labels" % (labeled, total)
    assert unlabeled >= 20, unlabeled
    # ~60 spans of 100 ms each; every one of those sampled is its own id.
    assert len(spans) >= 10, spans
    assert {s // 100000 for s in spans} == {1, 2}, spans


# Go 1.19's runtime functions that move SP by hand (_func.flag SPWRITE):
# past them the walk would be on another stack (mcall: the goroutine that
# just stopped, while m.curg names the next; time.now: the g0 stack its
# vDSO call runs on).
SPWRITE = {"gogo", "runtime.gogo", "runtime.mcall", "runtime.systemstack",
           "runtime.morestack", "runtime.asmcgocall", "runtime.nanotime1", "time.now"}


@pytest.mark.parametrize("unwind", ["kernel", "copy"])
def test_stacks_end_where_go_switches_stacks(go_labels, tmp, pprof_pb2, unwind):
    """As Go's own traceback does, both walks end a stack at a function
    that switches stacks: a frame read past it would belong to another
    stack, and to another goroutine than the one whose labels the sample
    carries. go_labels calls time.Now all the time. A process started by
    the recording: its first samples, walked by frame pointers before its
    tables load, are cut at the switches too."""
    r = run_ignis("record", "--frequency", 999, "--unwind", unwind, "--output", tmp,
                  "--top", 0, "--", go_labels, 4, 2, 0, timeout=120)
    assert r.returncode == 0, r.stderr
    prof = load_pprof(pprof_pb2, os.path.join(tmp, "profile.pb.gz"))
    switching = 0
    for names, labels, count in samples(prof):
        at = [i for i, n in enumerate(names) if n in SPWRITE]
        if at:
            switching += count
            assert at == [len(names) - 1], "frames past %s: %s" % (names[at[0]], names)
    assert switching >= 5, "too few samples in time.now and the like: %d" % switching


def test_a_new_process_is_walked_from_tables_at_once(go_labels, tmp):
    """The first sample the walker has no mapping for wakes the agent,
    which publishes the new process's mappings: go_labels (static, so all
    its code is mapped at exec) started by the recording has only its first
    few samples walked by frame pointers as code not known yet. Before,
    they waited for the agent's next poll: about 200 of 4,000 samples."""
    r = run_ignis("record", "--frequency", 999, "--unwind", "kernel", "--output", tmp,
                  "--top", 0, "--", go_labels, 2, 2, 0, timeout=120)
    assert r.returncode == 0, r.stderr
    m = re.search(r"user stacks walked in the kernel: (\d+) complete from unwind tables, "
                  r"\d+ partly by frame pointers \(\d+ where a table was not loaded yet, "
                  r"(\d+) in code not known to the walker yet\)", r.stderr)
    assert m, r.stderr
    complete, unknown = int(m.group(1)), int(m.group(2))
    print("walked from tables %d, in code not known yet %d" % (complete, unknown))
    assert complete >= 1000, r.stderr
    assert unknown <= 60, r.stderr


@pytest.mark.parametrize("version", ["1.19", "1.23"])
def test_hundreds_of_labels_stay_within_bounds(go_labels_of, tmp, pprof_pb2, version):
    """A goroutine under 300 labels (a map of 64 buckets and overflow ones):
    its trace context still arrives (keys of other lengths are not read), no
    sample carries more than the bound."""
    record(go_labels_of(version), tmp, 6, 1, 300)
    prof = load_pprof(pprof_pb2, os.path.join(tmp, "profile.pb.gz"))
    many = with_span = 0
    for names, labels, count in samples(prof):
        program = {k: v for k, v in labels.items() if k not in ("pid", "comm")}
        assert len(program) <= MAX_LABELS, program
        assert not any(k.startswith("key") for k in program), program
        if work_of(names) == "main.manyLabelsWork":
            many += count
            if program:
                assert check_span(program) == 999999
                with_span += count
    # Enough samples for the share to mean something on a busy machine.
    assert many >= 50, many
    assert with_span >= 0.9 * many, "%d of %d samples carry their labels" % (with_span, many)


@pytest.mark.parametrize("version,nlabels", [("go1.24.0", 5), ("go1.24.0", 300),
                                              ("go1.19.0", 20)])
def test_label_layouts_of_other_go_versions(tmp, pprof_pb2, version, nlabels):
    """The layouts this machine's Go toolchains cannot build, laid out by
    tests/workloads/go_layout.c: Go 1.24+'s sorted label list (the trace
    keys after 295 others), and Go 1.19's map with an overflow bucket and
    an old bucket of a growth in progress."""
    exe = os.path.join(tmp, "go_layout")
    with open(os.path.join(WORKLOADS, "go_layout"), "rb") as f:
        image = f.read()
    assert image.count(b"go1.24.0") == 1
    with open(exe, "wb") as f:
        f.write(image.replace(b"go1.24.0", version.encode()))
    os.chmod(exe, 0o755)
    out = os.path.join(tmp, "out")
    r = record(exe, out, 4, nlabels)
    assert "a %s program: pprof labels read" % version in r.stderr, r.stderr
    prof = load_pprof(pprof_pb2, os.path.join(out, "profile.pb.gz"))
    total = labeled = 0
    for names, labels, count in samples(prof):
        if "layout_work" not in names:
            continue
        total += count
        program = {k: v for k, v in labels.items() if k not in ("pid", "comm")}
        if program:
            assert set(program) == TRACE_KEYS, program
            assert check_span(program) == 100009
            labeled += count
    assert total >= 50, total
    assert labeled >= 0.9 * total, "%d of %d samples carry their labels" % (labeled, total)


def agent_config(tmp, pyroscope, datadog, files, extra="", otlp=None):
    return write_config(tmp, """
upload_interval: 2s
shutdown_timeout: 20s
host: test-node
spool_dir: %s
metrics:
  listen: "127.0.0.1:%d"
log:
  level: debug
labels:
  go_labels: [custom]
%s
destinations:
  - type: pyroscope
    url: %s
  - type: datadog
    url: %s/profiling/v1/input
    upload_interval: 2s
  - type: file
    directory: %s
%s""" % (os.path.join(tmp, "spool"), free_port(), extra, pyroscope, datadog, files,
       "  - type: otlp\n    endpoint: %s\n" % otlp if otlp else ""))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_destinations_get_the_labels_their_tracers_use(go_labels, tmp, pprof_pb2):
    files = os.path.join(tmp, "files")
    with FakePyroscope() as fp, FakeDatadog() as fd, FakeOTLP() as fo:
        agent = Agent(agent_config(tmp, fp.url, fd.url, files, otlp=fo.url))
        time.sleep(1.5)
        w = subprocess.Popen([go_labels, "8", "2", "0"], stdout=subprocess.PIPE, text=True)
        out, _ = w.communicate(timeout=60)
        time.sleep(3)
        assert agent.stop() == 0, agent.output
    started = printed_spans(out)
    assert started

    # Pyroscope: span_id (16 hex digits) for span profiles, per sample, never
    # a series label; none of Datadog's spellings, no custom label.
    py = [e for e in fp.received
          if any(n == "main.labeledWork" for n in functions(e["profile"]))]
    assert py, [e["labels"] for e in fp.received]
    total = labeled = 0
    for e in py:
        assert "span_id" not in e["labels"]
        for g in e["sample_series"]:
            # span_name is a series label at the server, span_id never.
            assert not set(g) & {"span_id", "span id", "trace_id", "custom"}, g
        period = e["profile"].period
        for names, labels, value in samples(e["profile"]):
            assert not set(labels) & {"span id", "local root span id", "trace endpoint",
                                      "trace_id", "custom"}, labels
            if work_of(names) != "main.labeledWork":
                if work_of(names) == "main.unlabeledWork":
                    assert "span_id" not in labels, labels
                continue
            total += value // period
            if "span_id" in labels:
                assert re.fullmatch(r"[0-9a-f]{16}", labels["span_id"]), labels
                assert int(labels["span_id"], 16) in started
                assert labels["span_name"] == "work"
                labeled += value // period
    assert total >= 50 and labeled >= 0.9 * total, (labeled, total)

    # Datadog: "span id", "local root span id", "trace endpoint" as its
    # tracers send them; the allow-listed custom label too; no OTel ids.
    dd = [e for e in fd.received
          if any(n == "main.labeledWork" for n in functions(e["profile"]))]
    assert dd
    total = labeled = 0
    for e in dd:
        for names, labels, count in samples(e["profile"]):
            assert not set(labels) & {"span_id", "trace_id", "span_name"}, labels
            if work_of(names) != "main.labeledWork":
                continue
            total += count
            if "span id" in labels:
                span = int(labels["span id"])
                assert span in started
                assert labels["local root span id"] == str(span - span % 100000)
                assert labels["trace endpoint"] == "GET /work"
                assert labels["custom"] == "c%d" % (span % 3)
                labeled += count
    assert total >= 50 and labeled >= 0.9 * total, (labeled, total)

    # OTLP: span_id and trace_id in the sample's Link (the ids the program
    # set, as bytes), every other kept label an attribute under its own key.
    total = labeled = 0
    for r in fo.received:
        for p in r["profiles"]:
            for s in p["samples"]:
                if work_of(s["stack"]) != "main.labeledWork":
                    continue
                total += s["value"]
                if s["link"]:
                    trace, span = s["link"]
                    assert int(span, 16) in started, s
                    assert int(trace, 16) == int(span, 16) * 7, s
                    # The link carries the ids: no spelling of them repeats.
                    assert not set(s["attrs"]) & {"span_id", "span id", "trace_id"}, s["attrs"]
                    assert s["attrs"]["local root span id"] == str(
                        int(span, 16) - int(span, 16) % 100000), s["attrs"]
                    assert s["attrs"]["trace endpoint"] == "GET /work", s["attrs"]
                    labeled += s["value"]
    assert total >= 50 and labeled >= 0.9 * total, (labeled, total)

    # Files keep every spelling and the allow-listed label.
    labeled = 0
    for path in glob.glob(os.path.join(files, "**", "*.pb.gz"), recursive=True):
        prof = load_pprof(pprof_pb2, path)
        for names, labels, count in samples(prof):
            if work_of(names) == "main.labeledWork" and "span id" in labels:
                span = check_span(labels)
                assert labels["custom"] == "c%d" % (span % 3)
                labeled += count
    assert labeled >= 50, labeled


def functions(prof):
    st = prof.string_table
    return {st[f.name] for f in prof.function}
