"""The interactive explorer (dse explore, results/explore.html): the file it writes, and the
page as a browser shows it (headless Chromium driven over the DevTools protocol).

The browser test skips when Chromium or websocket-client is missing, unless DSE_REQUIRE_TOOLS is
set (CI sets it and installs Debian's chromium). Its screenshot is kept in the test's tmp folder,
and copied to $DSE_TEST_ARTIFACTS when that is set.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dse import explore
from dse.cli import main
from dse.store import read_table

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------- a tiny run
@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Sweep, front, selection and explorer of a small 3-objective run (1,536 designs)."""
    d = tmp_path_factory.mktemp("explore-run")
    cfg = yaml.safe_load((ROOT / "tests" / "data" / "tiny_config.yaml").read_text())
    cfg["platform"] = str(ROOT / "configs" / "platforms" / "u280.yaml")
    cfg["model"] = str(ROOT / "configs" / "models" / "smolvla_vision.yaml")
    cfg["objectives"].append({"name": "quality_loss", "direction": "min"})
    cfg["sweep"]["space"]["weight_precision"] = ["BF16", "INT8", "INT4"]
    cfg["sweep"]["space"]["act_precision"] = ["BF16", "INT8"]
    cfg["select"]["latency_budget_ms"] = 400.0
    config = d / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    c = str(config)
    shards = [str(d / f"s{i}.parquet") for i in range(2)]
    for i, s in enumerate(shards):
        assert main(["sweep", "--config", c, "--shard", f"{i}/2", "--out", s]) == 0
    front, selected = str(d / "front.parquet"), str(d / "selected.parquet")
    assert main(["pareto", "--config", c, "--in", *shards, "--out", front]) == 0
    assert main(["select", "--config", c, "--in", front, "--out", selected]) == 0
    html = d / "explore.html"
    args = ["explore", "--config", c, "--cloud", *shards, "--front", front, "--selected", selected]
    assert main([*args, "--max-cloud", "300", "--out", str(html)]) == 0
    return {"config": config, "front": Path(front), "selected": Path(selected), "html": html,
            "args": args, "dir": d}


def page_data(html: Path) -> dict:
    text = html.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
    assert m is not None
    return json.loads(m.group(1))


def column(data: dict, name: str) -> list:
    c = data["columns"][name]
    if c["kind"] == "cat":
        return [c["levels"][v] if v >= 0 else None for v in c["values"]]
    return c["values"]


# ------------------------------------------------------------------------------- the file
def test_page_is_self_contained(run: dict[str, Path]) -> None:
    text = run["html"].read_text(encoding="utf-8")
    # no network: no script or stylesheet is fetched (plotly.js is inlined)
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=\"?https?:", text)
    assert "plotly" in text.lower() and len(text) > 3_000_000  # the inlined bundle


def test_page_holds_the_front_cloud_sample_and_detail(run: dict[str, Path]) -> None:
    data = page_data(run["html"])
    front = read_table(run["front"])
    selected = read_table(run["selected"])
    sets = column(data, "set")
    ids = column(data, "design_id")
    # every front design, once, as a front design; the cloud thinned to --max-cloud
    assert sorted(i for i, s in zip(ids, sets, strict=True) if s == "front") == sorted(
        front["design_id"].astype(str)
    )
    assert 0 < sets.count("cloud") <= 300
    assert len(set(ids)) == len(ids)
    # the figures are the Parquet's (6 significant digits)
    lat = dict(zip(ids, column(data, "latency_ms"), strict=True))
    for r in front.to_dict("records"):
        assert lat[r["design_id"]] == pytest.approx(r["latency_ms"], rel=1e-5)
    # selected designs carry their reasons; labels say what a design is
    why = dict(zip(ids, column(data, "selection"), strict=True))
    for r in selected.to_dict("records"):
        assert r["selection"].split(",")[0] in why[r["design_id"]]
    assert all(re.match(r"^(W )?[A-Z0-9]+.* \d+×\d+·\d+·\d+ @\d+$", lb)
               for lb in column(data, "label"))
    # per-kernel time and per-SLR resources of every front design, as the model gives them
    det = data["detail"]
    assert set(det["designs"]) == set(front["design_id"].astype(str))
    one = front.iloc[0]
    d1 = det["designs"][str(one["design_id"])]
    # kernels of one image, per call: the sum over kernels is the design's latency per call
    assert sum(d1["ms"]) == pytest.approx(one["latency_ms"], rel=2e-3)
    used = np.array(d1["used"])
    avail = np.array(det["available"])
    # the utilization column is the fullest SLR's most used resource
    assert (used / avail).max() == pytest.approx(one["utilization"], rel=1e-3)
    assert data["run"]["budget_ms"] == 400.0 and data["run"]["quality_max"] > 0
    assert data["run"]["board"] == "u280"


def test_same_results_same_page(run: dict[str, Path], tmp_path: Path) -> None:
    again = tmp_path / "again.html"
    assert main([*run["args"], "--max-cloud", "300", "--out", str(again)]) == 0
    assert again.read_bytes() == run["html"].read_bytes()


def test_binned_sample_keeps_the_edges() -> None:
    """A dense blob and a few far designs: the sample keeps every far design (their bins hold
    one each) and thins the blob."""
    rng = np.random.default_rng(1)
    lat = np.r_[rng.uniform(100, 110, 50_000), [1.0, 3.0, 1000.0]]
    util = np.r_[rng.uniform(0.5, 0.6, 50_000), [0.99, 0.01, 0.02]]
    idx = explore.binned_sample(lat, util, 2_000)
    assert len(idx) <= 2_000 and len(idx) > 1_000
    assert {50_000, 50_001, 50_002} <= set(idx.tolist())
    assert np.array_equal(idx, explore.binned_sample(lat, util, 2_000))  # seeded
    assert len(explore.binned_sample(lat[:10], util[:10], 100)) == 10


def test_encode_columns_round_trip() -> None:
    frame = pd.DataFrame({
        "a": [1.234567891, np.nan, 3.0],
        "b": pd.Categorical(["x", "y", "x"], categories=["y", "x", "z"], ordered=True),
        "c": [True, False, True],
        "d": np.array([1, 2, 3], dtype=np.int32),
    })
    cols = explore.encode_columns(frame)
    assert cols["a"] == {"kind": "num", "values": [1.23457, None, 3.0]}
    assert cols["b"] == {"kind": "cat", "levels": ["y", "x"], "values": [1, 0, 1]}
    assert cols["c"]["values"] == [1, 0, 1] and cols["d"]["values"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-cloud", "-1"], "--max-cloud"),
        (["--front", "missing.parquet"], "missing.parquet"),
    ],
)
def test_bad_input_is_one_line(
    run: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    extra: list[str], message: str,
) -> None:
    args = [*run["args"], *extra, "--out", str(tmp_path / "x.html")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message in err
    assert not (tmp_path / "x.html").exists()


def test_export_command_of_the_page_works(run: dict[str, Path], tmp_path: Path) -> None:
    """The page's export command (dse export --design-id) exports that one design."""
    front = read_table(run["front"])
    pick = str(front["design_id"].iloc[-1])
    out = tmp_path / "hls"
    assert main(["export", "--config", str(run["config"]), "--in", str(run["front"]),
                 "--design-id", pick, "--out", str(out)]) == 0
    index = json.loads((out / "index.json").read_text())
    assert [d["design_id"] for d in index["designs"]] == [pick]
    assert main(["export", "--config", str(run["config"]), "--in", str(run["front"]),
                 "--design-id", "nope", "--out", str(tmp_path / "x")]) == 2


# ------------------------------------------------------------------------------- in a browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _need_browser() -> None:
    missing = []
    if CHROMIUM is None:
        missing.append("chromium")
    try:
        import websocket  # noqa: F401
    except ImportError:
        missing.append("websocket-client")
    if missing:
        if os.environ.get("DSE_REQUIRE_TOOLS"):
            pytest.fail(f"DSE_REQUIRE_TOOLS is set but {', '.join(missing)} is missing")
        pytest.skip(f"{', '.join(missing)} not installed")


class Browser:
    """Headless Chromium and one page, over the DevTools protocol (websocket-client)."""

    def __init__(self, profile: Path) -> None:
        import websocket

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "--window-size=1500,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helper processes in one group, ended with it
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [t for t in json.load(r) if t["type"] == "page"]
        self.ws = websocket.create_connection(
            pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self.next_id = 0

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def js(self, expression: str) -> object:
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {expression}")

    def mouse(self, kind: str, x: float, y: float, **extra: object) -> None:
        self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def close(self) -> None:
        if hasattr(self, "ws"):
            self.ws.close()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group this test started
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


#: The pixel of design ``row`` in the trace whose legend name starts with ``name`` (Plotly's
#: axis mapping from data to pixels, plus the plot area's offset on the page).
_POINT = """(() => {
  const gd = document.getElementById('plot');
  const t = gd.data.find(t => t.name && t.name.startsWith(%s) && t.x.length);
  const j = t ? t.customdata.indexOf(%d) : -1;
  if (j < 0) return null;
  const fl = gd._fullLayout, box = gd.querySelector('.main-svg').getBoundingClientRect();
  return [box.left + fl.xaxis._offset + fl.xaxis.c2p(t.x[j]),
          box.top + fl.yaxis._offset + fl.yaxis.c2p(t.y[j])];
})()"""


def test_page_in_headless_chromium(
    run: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Load the page from file://, see the points drawn, hover a selected design and read its
    hover label, click it and read its breakdown, resources and export command; keep a
    screenshot."""
    _need_browser()
    data = page_data(run["html"])
    labels, ids = column(data, "label"), column(data, "design_id")
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    b = Browser(profile)
    try:
        b.call("Page.enable")
        b.call("Runtime.enable")
        b.call("Page.navigate", url=run["html"].resolve().as_uri())
        b.wait_for("document.readyState === 'complete' && !!window.dseExplore")
        n_points = b.wait_for(
            "document.querySelectorAll('#plot .scatterlayer path.point').length"
        )
        n_cloud = sum(s == "cloud" for s in column(data, "set"))
        assert n_points >= n_cloud + len(data["detail"]["designs"])
        # the budget line and the legend are drawn
        assert b.js("[...document.querySelectorAll('#plot .legendtext')]"
                    ".some(e => e.textContent.startsWith('front, in the quality tier'))")
        assert b.js("document.querySelectorAll('#plot .shapelayer path').length") >= 1
        # the cloud off (a cloud design may share a selected design's position)
        b.js("document.getElementById('showcloud').click()")
        assert b.js("document.querySelectorAll('#plot .scatterlayer path.point').length") \
            == n_points - n_cloud
        # a selected design no other front design sits next to (two may be a pixel apart,
        # e.g. INT4 weights that buy 0.03% of latency on this engine)
        sets, why = column(data, "set"), column(data, "selection")
        lat, util = np.array(column(data, "latency_ms")), np.array(column(data, "utilization"))
        front_rows = [i for i, s in enumerate(sets) if s == "front"]

        def isolation(i: int) -> float:
            """How far the nearest other front design sits (log latency and utilisation)."""
            return min((max(abs(np.log(lat[i] / lat[j])), abs(util[i] - util[j]))
                        for j in front_rows if j != i), default=np.inf)

        # the selected design farthest from any other front design
        row = max((i for i, w in enumerate(why) if w), key=isolation)
        x, y = b.wait_for(_POINT % (json.dumps("selected"), row))
        b.mouse("mouseMoved", x, y)
        hover = b.wait_for(
            "(document.querySelector('#plot .hoverlayer .hovertext') || {}).textContent"
        )
        # the hover names the design under the mouse: the selected one, or a front design drawn
        # on the same pixel (the INT4-weight twin of an INT8 engine can be 0.03% faster)
        row = next((i for i in (row, *range(len(ids))) if ids[i] in hover), row)
        assert labels[row] in hover and ids[row] in hover
        assert ("selected:" in hover) == bool(why[row])
        assert "latency_ms" in hover and "pe_m" in hover and "utilization" in hover
        shot = base64.b64decode(b.call("Page.captureScreenshot", format="png")["data"])
        (tmp_path / "explore-hover.png").write_bytes(shot)
        b.mouse("mousePressed", x, y, button="left", clickCount=1)
        b.mouse("mouseReleased", x, y, button="left", clickCount=1)
        cmd = b.wait_for("(document.getElementById('export-cmd') || {}).textContent")
        assert f"--design-id {ids[row]}" in cmd and cmd.startswith("dse export --config")
        assert b.wait_for("document.querySelectorAll('#kernels .bars path').length") > 5
        slr_rows = b.js("document.querySelectorAll('#detail table')[0].rows.length")
        assert slr_rows == 1 + len(data["detail"]["slrs"])
        # a filter hides designs: the cloud back on, then every weight precision but the
        # first off
        b.js("document.getElementById('showcloud').click()")
        before = b.js("document.querySelectorAll('#plot .scatterlayer path.point').length")
        b.js("[...document.querySelectorAll('#f-weight_precision input')].slice(1)"
             ".forEach(cb => cb.click())")
        after = b.js("document.querySelectorAll('#plot .scatterlayer path.point').length")
        assert 0 < after < before
        shot = base64.b64decode(b.call("Page.captureScreenshot", format="png")["data"])
        (tmp_path / "explore-click.png").write_bytes(shot)
        # a cloud design has no embedded detail: the page gives the dse evaluate command
        cloud_row = column(data, "set").index("cloud")
        b.js(f"window.dseExplore.showDetail({cloud_row})")
        evaluate = b.wait_for("(document.getElementById('evaluate-cmd') || {}).textContent")
    finally:
        b.close()
    # ... and that command evaluates the design to the figures the page shows
    design = evaluate.split(" --design '", 1)[1].rstrip("'")
    assert main(["evaluate", "--config", str(run["config"]), "--design", design]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["latency_ms"] == pytest.approx(column(data, "latency_ms")[cloud_row], rel=1e-5)
    assert out["utilization"] == pytest.approx(column(data, "utilization")[cloud_row], rel=1e-5)
    for name in ("explore-hover.png", "explore-click.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("DSE_TEST_ARTIFACTS"):
            dest = Path(os.environ["DSE_TEST_ARTIFACTS"])
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp_path / name, dest / name)
