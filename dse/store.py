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


def atomic_write(path: str | os.PathLike[str], writer: Any) -> None:
    """Call ``writer(tmp_path)`` and rename the temporary file onto ``path`` when it succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual mode
    try:
        writer(tmp)
        os.replace(tmp, target)
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


def read_rows(path: str | os.PathLike[str], rows: Any) -> pd.DataFrame:
    """Rows ``rows`` (positions, ascending) of one Parquet file, every column."""
    try:
        return pq.read_table(path).take(pa.array(rows, type=pa.int64())).to_pandas()
    except FileNotFoundError:
        raise UserError("input file does not exist", file=str(path)) from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"not a readable Parquet file ({exc})", file=str(path)) from None


def column_names(path: str | os.PathLike[str]) -> list[str]:
    """The column names of one Parquet file (its schema only is read)."""
    try:
        return list(pq.read_schema(path).names)
    except FileNotFoundError:
        raise UserError("input file does not exist", file=str(path)) from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"not a readable Parquet file ({exc})", file=str(path)) from None


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the ``dse`` metadata dictionary stored by :func:`write_table`."""
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(_META_KEY)
    return json.loads(raw) if raw else {}
