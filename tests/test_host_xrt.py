"""The exported host.cpp against the real XRT: Debian's libxrt-dev (XRT 2.13 headers under
/usr/include/xrt, libxrt_coreutil), no -DDSE_CSIM.

A header or library that the host misuses fails the build here, which the C simulation (built
with -DDSE_CSIM, XRT-free) cannot see. Without a card the linked host still runs up to opening
the device: it parses schedule.txt, checks the arenas and reads every tensor file first, so a run
on the C simulation's own inputs must get as far as XRT's "no device" error.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dse.commands.export import export_rows
from dse.params import EXAMPLE_DESIGN

XRT_INCLUDE = Path("/usr/include/xrt")
GXX = shutil.which("g++")

pytestmark = pytest.mark.skipif(
    GXX is None or not (XRT_INCLUDE / "xrt" / "xrt_bo.h").is_file(),
    reason="needs g++ and the XRT headers (apt-get install libxrt-dev)",
)

#: Designs whose hosts differ in what they allocate and bind: the default (4 weight channels, one
#: CU), weights shared by 3 CUs whose streams share their channels (one buffer per channel, bound
#: to several ports), and fused attention with 3 output ports on 2 CUs.
DESIGNS = {
    "default": {},
    "shared": {"share_weights": True, "share_streams": True, "compute_units": 3,
               "pc_weights": 2, "pc_inputs": 1, "pc_outputs": 1},
    "fused": {"fuse_attention": True, "compute_units": 2, "pc_weights": 1, "pc_inputs": 2,
              "pc_outputs": 3},
}  # fmt: skip


def _build(folder: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """g++ on host.cpp: XRT's headers, and the HLS type headers that dse_config.h includes
    (ap_int.h for the kernel's word type; dse.hls_headers: $DSE_HLS_INCLUDE or hls4ml's wheel)."""
    from dse.hls_headers import include_dir

    exe = folder / "host"
    cmd = [GXX, "-std=c++17", "-O1", f"-I{XRT_INCLUDE}", f"-I{include_dir()}",
           str(folder / "host.cpp"),
           "-lxrt_coreutil", "-pthread", "-o", str(exe)]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600), exe


@pytest.mark.parametrize("name", DESIGNS)
def test_host_compiles_and_links_against_xrt(tmp_path, cfg, name):
    design = {**EXAMPLE_DESIGN, "design_id": name, **DESIGNS[name]}
    export_rows(
        [design], cfg.platform_raw, tmp_path, model=cfg.model(mapper=False),
        model_raw=cfg.model_raw,
    )  # fmt: skip
    folder = tmp_path / name
    proc, exe = _build(folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # linked against libxrt_coreutil: the XRT calls are undefined here and resolved from it
    syms = subprocess.run(["nm", "-DC", "--undefined-only", str(exe)], capture_output=True,
                          text=True).stdout  # fmt: skip
    for call in ("xrt::bo::sync", "xrt::kernel::group_id", "xrt::run::start"):
        assert call in syms, call
    needed = subprocess.run(["ldd", str(exe)], capture_output=True, text=True).stdout
    assert "libxrt_coreutil" in needed
    # bad usage: one line, exit code 2, before any XRT call
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "usage" in run.stderr


def test_host_reads_every_tensor_before_it_asks_xrt_for_the_device(
    tmp_path, tmp_path_factory, cfg, monkeypatch
):
    # The C simulation's work folder of a class-token model (DeiT-S, reduced): schedule.txt and
    # one file per input, weight and vector. The linked host reads them all, then stops at the
    # device (none here: exit 1, one "host: XRT: ..." line). A missing tensor file is a bad
    # input (exit 2) found before XRT is touched.
    from dse import csim
    from tests.test_csim_models import FUNCTIONAL, export_model

    # the session's object cache: test_csim_models.py built this very export's objects
    monkeypatch.setenv("DSE_CSIM_CACHE", str(tmp_path_factory.getbasetemp() / "csim-objects"))
    folder = export_model(tmp_path, cfg, Path("configs/models/deit_s.json"))
    work = tmp_path / "work"
    report = csim.run_csim(folder, work_dir=work)
    assert all(report["checks"][k] for k in FUNCTIONAL), report.get("messages")
    proc, exe = _build(folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the reduced schedule was built for the export's own design: same CUs and ports
    sched = (work / "schedule.txt").read_text()
    assert re.search(r"^copy k=class_token .* a=cls c=x0 M=1 ", sched, re.M)
    args = [str(exe), str(tmp_path / "none.xclbin"), str(work / "schedule.txt")]
    run = subprocess.run([*args, str(work / "data"), str(tmp_path)], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert run.stderr.startswith("host: XRT: ") and run.stderr.count("\n") == 1
    (work / "data" / "cls.bin").unlink()
    run = subprocess.run([*args, str(work / "data"), str(tmp_path)], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert run.returncode == 2 and "missing file" in run.stderr and "cls.bin" in run.stderr
