"""DIR/flamegraph.svg from `ignis record`: well-formed XML whose boxes are as
wide as the folded counts say, and a page that renders and searches in a
real browser (headless Chromium)."""
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET

import pytest

from conftest import WORKLOADS, read_folded, run_ignis
from test_record import RATIO, RATIO_TOL

SVG = "{http://www.w3.org/2000/svg}"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def recorded():
    d = tempfile.mkdtemp(prefix="ignis-fg-")
    r = run_ignis("record", "--frequency", 199, "--output", d, "--top", 0, "--",
                  os.path.join(WORKLOADS, "split"), 5)
    assert r.returncode == 0, r.stderr
    yield d
    shutil.rmtree(d, ignore_errors=True)


def frames(root):
    """[(name, class, data-x, data-n, x, width, fill)] of every box."""
    out = []
    for g in root.iter(SVG + "g"):
        cls = g.get("class", "").split()
        if cls[:1] != ["f"]:
            continue
        title = g.find(SVG + "title").text
        rect = g.find(SVG + "rect")
        name = title[:title.rindex(" (")]
        out.append((name, cls[1], int(g.get("data-x")), int(g.get("data-n")),
                    float(rect.get("x")), float(rect.get("width")), rect.get("fill")))
    return out


def by_name(fs, name):
    return [f for f in fs if f[0] == name]


def test_svg_matches_folded(recorded):
    root = ET.parse(os.path.join(recorded, "flamegraph.svg")).getroot()
    assert root.tag == SVG + "svg"
    fs = frames(root)
    folded = read_folded(os.path.join(recorded, "profile.folded"))
    total = sum(folded.values())
    plotw = float(root.get("data-plotw"))
    (all_,) = by_name(fs, "all")
    assert all_[3] == total and abs(all_[5] - plotw) < 0.01
    # One box per distinct path; each as wide as the samples under it.
    paths = {}
    for stack, c in folded.items():
        for i in range(1, len(stack) + 1):
            paths[stack[:i]] = paths.get(stack[:i], 0) + c
    for name in ("split", "main", "run", "parent", "leaf_a", "leaf_b"):
        boxes = by_name(fs, name)
        want = sorted(c for p, c in paths.items() if p[-1] == name)
        assert sorted(b[3] for b in boxes) == want, name
        for b in boxes:
            assert abs(b[5] - b[3] * plotw / total) < 0.01
    # The hot path's boxes: the widest of each name. A sample taken before
    # a table was loaded is walked by frame pointers (flagged), and one in a
    # prologue may then miss a caller, giving a thin second box.
    a, b, parent = (max(by_name(fs, n), key=lambda f: f[3]) for n in ("leaf_a", "leaf_b", "parent"))
    assert abs(a[5] / b[5] - RATIO) <= RATIO_TOL + 0.3, (a, b)
    # The parent spans its children, leaf_a left of leaf_b (name order).
    assert parent[4] - 0.01 <= a[4] < b[4] and b[4] + b[5] <= parent[4] + parent[5] + 0.01
    assert by_name(fs, "split")[0][1] == "p"
    assert a[1] == "u"
    # Kernel frames, if the run caught any (timer interrupts), are orange.
    for f in fs:
        if f[1] == "k":
            assert re.fullmatch(r"rgb\(\d+,\d+,0\)", f[6]), f


def chromium(url, *extra, timeout=90):
    prof = tempfile.mkdtemp(prefix="ignis-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--user-data-dir=" + prof, *extra, url],
            capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(prof, ignore_errors=True)


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/deps.sh installs it)")


@needs_chromium
def test_chromium_renders_and_searches(recorded):
    svg = os.path.join(recorded, "flamegraph.svg")
    folded = read_folded(os.path.join(recorded, "profile.folded"))
    total = sum(folded.values())
    a = sum(c for s, c in folded.items() if "leaf_a" in s)

    r = chromium("file://" + svg + "#s=%5Eleaf_a%24", "--dump-dom")
    assert r.returncode == 0, r.stderr
    dom = ET.fromstring(r.stdout)
    fs = {f[0]: f for f in frames(dom)}
    assert "leaf_a" in fs and "leaf_b" in fs
    # The script ran: the search matched leaf_a, coloured it, and says its share.
    assert fs["leaf_a"][6] == "rgb(230,0,230)"
    assert fs["leaf_b"][6] != "rgb(230,0,230)"
    matched = next(t for t in dom.iter(SVG + "text") if t.get("id") == "matched").text
    m = re.fullmatch(r"Matched: ([\d.]+)%", matched)
    assert m, matched
    assert abs(float(m.group(1)) - 100.0 * a / total) < 0.1
    texts = {t.text for t in dom.iter(SVG + "text")}
    assert "leaf_a" in texts and "leaf_b" in texts and "parent" in texts

    # Zoomed on leaf_b: it fills the plot, leaf_a is hidden, parent dimmed.
    r = chromium("file://" + svg + "#z=leaf_b", "--dump-dom")
    assert r.returncode == 0, r.stderr
    dom = ET.fromstring(r.stdout)
    plotw = float(dom.get("data-plotw"))
    gs = {g.find(SVG + "title").text.rsplit(" (", 1)[0]: g
          for g in dom.iter(SVG + "g") if g.get("class", "").startswith("f ")}
    assert abs(float(gs["leaf_b"].find(SVG + "rect").get("width")) - plotw) < 0.01
    assert "hide" in gs["leaf_a"].get("class").split()
    assert "parent" in gs["parent"].get("class").split()
    unzoom = next(t for t in dom.iter(SVG + "text") if t.get("id") == "unzoom")
    assert "hide" not in (unzoom.get("class") or "")


@needs_chromium
def test_chromium_screenshot(recorded):
    shot = os.path.join(recorded, "shot.png")
    r = chromium("file://" + os.path.join(recorded, "flamegraph.svg") + "#s=leaf_b",
                 "--screenshot=" + shot, "--window-size=1200,400")
    assert r.returncode == 0, r.stderr
    with open(shot, "rb") as f:
        png = f.read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    keep = os.environ.get("IGNIS_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
