"""dse csim on an export of every shipped model (configs/models/*) and of a distilled DeiT: each
stem (patches, patches with class tokens, tokens), the layer and every head (connector,
classifier per class token, attention pooling).

Each export is the default design (dse.params.EXAMPLE_DESIGN: INT8, 3 CUs) run by dse csim at
the reduced size (one layer, two heads, a 16 x 16 grid or 256 tokens): the host's schedule.txt,
its arenas and its tensor files must agree with the numpy emulation, bit for bit on every GEMM.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from dse.commands.export import export_rows
from dse.config import load_config
from dse.params import EXAMPLE_DESIGN

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(
    p for p in (ROOT / "configs" / "models").iterdir() if p.suffix in (".json", ".yaml")
)
GXX_MISSING = shutil.which("g++") is None


def export_model(tmp_path: Path, cfg, model: Path, **changes) -> Path:
    """The default design exported for ``model`` (the run config with its model replaced)."""
    raw = yaml.safe_load((ROOT / "configs" / "config.yaml").read_text())
    raw["platform"] = str(ROOT / "configs" / "platforms" / "u280.yaml")
    raw["model"] = str(model if model.is_absolute() else ROOT / model)
    path = tmp_path / f"config-{model.stem}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    run = load_config(path)
    design = {**EXAMPLE_DESIGN, "design_id": model.stem, **changes}
    out = tmp_path / "hls"
    export_rows([design], run.platform_raw, out, model=run.model(mapper=False),
                model_raw=run.model_raw)  # fmt: skip
    return out / model.stem


def _distilled(tmp_path: Path) -> Path:
    """DeiT-S with its distillation token and both heads (HF DeiTForImageClassificationWithTeacher:
    the same config.json with model_type deit)."""
    data = json.loads((ROOT / "configs" / "models" / "deit_s.json").read_text())
    data.update(model_type="deit", architectures=["DeiTForImageClassificationWithTeacher"])
    path = tmp_path / "deit_s_distilled.json"
    path.write_text(json.dumps(data))
    return path


def _one_head(tmp_path: Path) -> Path:
    """DeiT-Ti with one head of 192: its attention GEMMs have no head index, and on the 3 CUs of
    the default design they split their columns (the scores' transposed K by rows)."""
    data = yaml.safe_load((ROOT / "configs" / "models" / "deit_t.yaml").read_text())
    data.update(heads=1, name="deit_t_one_head")
    path = tmp_path / "deit_t_one_head.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


EXTRA = {"distilled": _distilled, "one_head": _one_head}
#: The C simulation's checks of what the kernel computes (dse.csim._check), not of its cycles.
FUNCTIONAL = ("gemm_bit_exact", "stages", "outputs", "pe_steps")


TEST = "test_csim_passes_on_every_shipped_model"


@pytest.fixture(scope="module")
def reports(request, tmp_path_factory, cfg):
    """Every selected model's export folder and its dse csim report (or the exception it
    raised), two runs at a time: each run waits on g++ and the C simulation (subprocesses) for
    most of its time, so two keep both cores busy. The objects and the precompiled HLS headers
    go to the session's cache that tests/test_csim.py also uses."""
    from concurrent.futures import ThreadPoolExecutor

    from dse import csim

    wanted = [item.callspec.params["model"] for item in request.session.items
              if getattr(item, "originalname", None) == TEST]  # fmt: skip
    root = tmp_path_factory.mktemp("models")
    mp = pytest.MonkeyPatch()
    mp.setenv("DSE_CSIM_CACHE", str(tmp_path_factory.getbasetemp() / "csim-objects"))

    def one(model):
        try:
            work = root / str(getattr(model, "stem", model))
            work.mkdir()
            path = EXTRA[model](work) if model in EXTRA else model
            folder = export_model(work, cfg, path)
            return folder, csim.run_csim(folder)
        except Exception as exc:  # raised again by the model's own test
            return None, exc

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            yield dict(zip(wanted, pool.map(one, wanted), strict=True))
    finally:
        mp.undo()


@pytest.mark.slow
@pytest.mark.skipif(GXX_MISSING, reason="g++ is not installed")
@pytest.mark.parametrize("model", [*MODELS, *EXTRA], ids=lambda p: getattr(p, "stem", p))
def test_csim_passes_on_every_shipped_model(reports, model):

    folder, report = reports[model]
    if isinstance(report, Exception):
        raise report
    # bit for bit and the PE steps; the cycle checks (model against the kernel's counters) are
    # test_csim.py's, and fail while the model's cycle charges are being reconciled
    functional = {k: report["checks"][k] for k in FUNCTIONAL}
    assert all(functional.values()), (report.get("failed_at"), report.get("messages"), functional)
    kernels = {c["kernel"] for c in report["gemm_calls"]}
    raw = json.loads((folder / "model.json").read_text())
    special = int(raw.get("class_token", False)) + int(raw.get("distillation_token", False))
    if raw.get("input") == "tokens":
        assert report["sizes"]["tokens"] == 256  # reduced: 256 tokens
    else:  # reduced: a grid of side 16 at most (16 divides smolVLA's scale 4), + class tokens
        side = min(raw["image_size"] // raw["patch_size"], 16)
        assert report["sizes"]["tokens"] == side * side + special
    assert {"q_proj", "attn_scores", "fc2"} <= kernels
    # every head ran and was checked: its GEMMs bit-exact, its output against the emulation
    heads = {"connector": "connector", "classifier": "classifier", "pooling": "pool_fc2"}
    finals = {o["tensor"] for o in report["outputs"]}
    for key, kernel in heads.items():
        assert (kernel in kernels) == (key in raw), key
    if "classifier" in raw:
        calls = [c for c in report["gemm_calls"] if c["kernel"] == "classifier"]
        tokens = raw["classifier"].get("tokens", 1)  # one classifier per class token
        assert {(c["M"], c["cu"]) for c in calls} >= {(1, 0)} and "logits" in finals
        assert len(calls) == tokens * 3  # 3 CUs share each classifier's columns
    if "pooling" in raw:
        assert "pool.out" in finals
