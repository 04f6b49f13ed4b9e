"""Will the sweep fit? The grid's size x bytes per design against this machine's memory (one
shard is evaluated at once) and the free disk under the working folder (every shard is kept),
checked when the config is loaded, so ``snakemake -n`` refuses a grid that would fail hours in.
"""

from __future__ import annotations

import math
import os

from dse.errors import UserError

#: Peak memory per design while a shard is evaluated and written, bytes. Measured here on the
#: default grid (dse sweep's path: decode, Model.evaluate, results frame, Parquet write):
#: 2,988 B per design at 50,000 designs, 2,154 B at 200,000; rounded up.
RAM_BYTES_PER_DESIGN = 4096
#: Parquet bytes per design on disk: measured 5.2-8.1 B on the default grid (zstd); a grid
#: with less regular figures compresses worse, so 4x that as an assumption.
DISK_BYTES_PER_DESIGN = 32
#: Share of the physical memory one shard may take (shards run side by side). Assumption.
RAM_SHARE = 0.5


def physical_memory_bytes() -> int | None:
    """This machine's physical memory (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def free_disk_bytes(folder: str) -> int | None:
    """Free bytes for an unprivileged user in the file system holding ``folder``."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError


def check_sweep_size(
    designs: int, shards: int, *, file: str, folder: str = ".", max_shards: int = 1024
) -> None:
    """Refuse a grid whose shard does not fit in memory or whose results do not fit on disk.

    Args:
        designs: designs in the grid.
        shards: ``sweep.shards``.
        file: the config file (for messages).
        folder: where results are written (the working folder).
        max_shards: the most shards the schema allows.

    Raises:
        UserError: naming sweep.shards or sweep.space, the need and what the machine has.
    """
    per_shard = math.ceil(designs / shards)
    ram = physical_memory_bytes()
    if ram is not None and per_shard * RAM_BYTES_PER_DESIGN > RAM_SHARE * ram:
        need = math.ceil(designs * RAM_BYTES_PER_DESIGN / (RAM_SHARE * ram))
        fix = (
            f"sweep.shards >= {need}" if need <= max_shards
            else "fewer values in sweep.space (even 1,024 shards would not fit)"
        )
        raise UserError(
            f"the grid holds {designs:,} designs; a shard of {per_shard:,} needs about "
            f"{_human(per_shard * RAM_BYTES_PER_DESIGN)} of memory "
            f"({RAM_BYTES_PER_DESIGN} B per design), more than {RAM_SHARE:.0%} of this "
            f"machine's {_human(ram)}",
            file=file,
            key="sweep.shards" if need <= max_shards else "sweep.space",
            value=shards if need <= max_shards else None,
            allowed=fix,
        )
    free = free_disk_bytes(folder)
    if free is not None and designs * DISK_BYTES_PER_DESIGN > free:
        raise UserError(
            f"the grid holds {designs:,} designs; their results need about "
            f"{_human(designs * DISK_BYTES_PER_DESIGN)} on disk ({DISK_BYTES_PER_DESIGN} B per "
            f"design), {_human(free)} free in {os.path.abspath(folder)}",
            file=file,
            key="sweep.space",
            allowed="fewer values in sweep.space, or free disk space",
        )


__all__ = ["check_sweep_size", "free_disk_bytes", "physical_memory_bytes"]
