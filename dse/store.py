"""Parquet in and out: the only module that touches pyarrow.

Every write goes to a temporary file in the target folder and is renamed into place, so a reader
never sees a half-written file and an interrupted job leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dse.errors import UserError

_META_KEY = b"dse"
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""
    atomic_write_bytes(path, text.encode("utf-8"))


def check_output(path: str | os.PathLike[str], *, key: str = "--out", folder: bool = False) -> Path:
    """Refuse an output path before any work: a file output that is an existing folder (or a
    folder output that is a file), or a place where no file can be written. Creates the folder.

    Raises:
        UserError: naming the argument, the path and what is allowed.
    """
    target = Path(path)
    want = "a folder path" if folder else "a file path (not a folder)"
    if folder and target.exists() and not target.is_dir():
        raise UserError("is a file, not a folder", key=key, value=str(target), allowed=want)
    if not folder and target.is_dir():
        raise UserError("is an existing folder", key=key, value=str(target), allowed=want)
    where = target if folder else target.parent
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".dse-probe.", suffix=".tmp", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(
            f"cannot write in folder {str(where)!r} ({exc.strerror})",
            key=key,
            value=str(target),
            allowed="a path in a writable folder",
        ) from None
    return target


def atomic_write(path: str | os.PathLike[str], writer: Any) -> None:
    """Call ``writer(tmp_path)`` and rename the temporary file onto ``path`` when it succeeds.

    Raises:
        UserError: the folder cannot be made or written, or ``path`` is a folder.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UserError(
            f"cannot write the file ({exc.strerror or exc})", file=str(target)
        ) from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual mode
    try:
        writer(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UserError(
            f"cannot write the file ({exc.strerror or exc})", file=str(target)
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(
    frame: pd.DataFrame, path: str | os.PathLike[str], *, metadata: Mapping[str, Any] | None = None
) -> None:
    """Write ``frame`` as Parquet with ``metadata`` (JSON) in the file's key-value metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps(dict(metadata or {}), sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(meta)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def read_table(path: str | os.PathLike[str], *, columns: list[str] | None = None) -> pd.DataFrame:
    """Read one Parquet file written by :func:`write_table`."""
    try:
        return pq.read_table(path, columns=columns).to_pandas()
    except FileNotFoundError:
        raise UserError("input file does not exist", file=str(path)) from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"not a readable Parquet file ({exc})", file=str(path)) from None


def read_tables(
    paths: Iterable[str | os.PathLike[str]], *, columns: list[str] | None = None
) -> pd.DataFrame:
    """Read and concatenate several Parquet files (e.g. sweep shards and search workers)."""
    frames = [read_table(p, columns=columns) for p in paths]
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the ``dse`` metadata dictionary stored by :func:`write_table`."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(_META_KEY)
    return json.loads(raw) if raw else {}
