"""Xilinx's HLS type headers (ap_int.h, ap_fixed.h, ap_float.h, hls_stream.h, hls_math.h) for
building the exported kernels with g++.

The exported sources include ``ap_int.h`` and ``hls_stream.h`` unconditionally, as Vitis HLS
compiles them. Outside Vitis the headers come from a registry package: hls4ml's wheel ships them
under ``hls4ml/templates/vivado/ap_types/`` (facts.md section 9). :func:`include_dir` finds them:

1. ``$DSE_HLS_INCLUDE`` when set (a folder holding ``ap_int.h``, e.g. a Vitis install's
   ``include``);
2. else the cache folder (``$XDG_CACHE_HOME/dse/ap_types`` or ``~/.cache/dse/ap_types``), filled
   once by ``pip download --no-deps hls4ml==1.3.0`` and unpacking that folder of the wheel.

``python -m dse.hls_headers`` prints the folder (fetching it when absent): CI runs it once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from dse.errors import UserError

#: The registry package and version whose wheel carries the headers.
WHEEL = "hls4ml==1.3.0"
#: Folder of the headers inside the wheel.
WHEEL_FOLDER = "hls4ml/templates/vivado/ap_types/"
#: A header every exported source includes: its presence marks a usable folder.
MARKER = "ap_int.h"


def cache_dir() -> Path:
    """Where the unpacked headers are kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dse" / "ap_types"


def include_dir(*, fetch: bool = True) -> Path:
    """The folder to pass to g++ as ``-isystem`` (see the module docstring).

    Raises:
        UserError: ``$DSE_HLS_INCLUDE`` names a folder without ``ap_int.h``, or the headers are
            not cached and cannot be downloaded (``fetch`` false, or pip failed).
    """
    env = os.environ.get("DSE_HLS_INCLUDE")
    if env:
        folder = Path(env)
        if not (folder / MARKER).is_file():
            raise UserError(
                f"no {MARKER} there", key="DSE_HLS_INCLUDE", value=env,
                allowed="a folder with Xilinx's HLS type headers (ap_int.h, hls_stream.h)",
            )  # fmt: skip
        return folder
    folder = cache_dir()
    if (folder / MARKER).is_file():
        return folder
    if not fetch:
        raise UserError(
            "Xilinx's HLS type headers are not cached", file=str(folder),
            allowed=f"run `python -m dse.hls_headers` (downloads {WHEEL}) or set DSE_HLS_INCLUDE",
        )  # fmt: skip
    return _download(folder)


def _download(folder: Path) -> Path:
    """Download the wheel with pip and unpack its header folder into ``folder`` (atomically: a
    temporary folder renamed into place)."""
    with tempfile.TemporaryDirectory(prefix="dse-hls-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "-d", tmp, "-q", WHEEL]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise UserError(
                f"cannot download {WHEEL} for the HLS headers ({last})",
                allowed="network access to PyPI, or DSE_HLS_INCLUDE naming the headers",
            )
        staging = Path(tmp) / "ap_types"
        with zipfile.ZipFile(wheels[0]) as whl:
            for name in whl.namelist():
                if name.startswith(WHEEL_FOLDER) and not name.endswith("/"):
                    target = staging / name[len(WHEEL_FOLDER) :]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(whl.read(name))
        if not (staging / MARKER).is_file():
            raise UserError(f"{WHEEL}'s wheel has no {WHEEL_FOLDER}{MARKER}")
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial = folder.with_name(f".{folder.name}.{os.getpid()}")
        shutil.copytree(staging, partial)
        try:
            os.replace(partial, folder)
        except OSError:  # another process filled it first
            shutil.rmtree(partial, ignore_errors=True)
    return folder


if __name__ == "__main__":
    try:
        print(include_dir())
    except UserError as exc:
        print(f"dse.hls_headers: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
