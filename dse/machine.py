"""What the machine a run starts on has to give: the memory available now (Linux)."""

from __future__ import annotations

from pathlib import Path

#: The kernel's memory report (Linux).
MEMINFO = Path("/proc/meminfo")


def available_memory_mb(meminfo: Path = MEMINFO) -> int | None:
    """``MemAvailable`` of ``meminfo`` in MB (the memory new processes can take without
    swapping), or None where there is no such file or line."""
    try:
        with open(meminfo, encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


__all__ = ["MEMINFO", "available_memory_mb"]
