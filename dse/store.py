"""Parquet in and out: the only module that touches pyarrow.

Every write goes to a temporary file in the target folder and is renamed into place, so a reader
never sees a half-written file and an interrupted job leaves nothing behind.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dse.errors import UserError

_META_KEY = b"dse"
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, mode: int | None = None
) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (``mode``: the file's
    permissions, e.g. 0o600 for a file that holds a secret; default: 0666 less the umask)."""
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data), mode=mode, size=len(data))


def atomic_write_text(
    path: str | os.PathLike[str], text: str, *, mode: int | None = None
) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""
    atomic_write_bytes(path, text.encode("utf-8"), mode=mode)


#: errno values of a full file system or an exhausted quota.
_FULL = (errno.ENOSPC, errno.EDQUOT)


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def disk_full_error(path: str | os.PathLike[str], needed: int | None = None) -> UserError:
    """The one-line error of a write that found no space: the path, the space it needed (when
    known) and what is free there."""
    target = Path(path)
    where = target.parent if not target.is_dir() else target
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        st = os.statvfs(where)
        free = f"{_mib(st.f_bavail * st.f_frsize)} free in {where}"
    except OSError:
        free = "free space unknown"
    need = f"about {_mib(needed)} needed, " if needed else ""
    return UserError(
        f"no space left on the device ({need}{free})",
        file=str(target),
        allowed="free some space (or set a folder on a larger disk), then run again: "
        "finished work is kept",
    )


def check_output(path: str | os.PathLike[str], *, key: str = "--out", folder: bool = False) -> Path:
    """Refuse an output path before any work: a file output that is an existing folder (or a
    folder output that is a file), or a place where no file can be written. Creates nothing.

    Raises:
        UserError: naming the argument, the path and what is allowed.
    """
    target = Path(path)
    want = "a folder path" if folder else "a file path (not a folder)"
    if folder and target.exists() and not target.is_dir():
        raise UserError("is a file, not a folder", key=key, value=str(target), allowed=want)
    if not folder and target.is_dir():
        raise UserError("is an existing folder", key=key, value=str(target), allowed=want)
    # the nearest folder that exists must take new files (the rest is created on write)
    where = (target if folder else target.parent).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    problem = None
    if not where.is_dir():
        problem = f"{str(where)!r} is not a folder"
    else:
        try:
            fd, probe = tempfile.mkstemp(prefix=".dse-probe.", suffix=".tmp", dir=where)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            problem = f"cannot write in {str(where)!r} ({exc.strerror})"
    if problem:
        raise UserError(problem, key=key, value=str(target), allowed="a path in a writable folder")
    return target


def _is_full(exc: BaseException) -> bool:
    """An OSError (pyarrow's too) of a full disk or quota."""
    if isinstance(exc, OSError) and exc.errno in _FULL:
        return True
    text = str(exc)
    return "No space left on device" in text or "Disk quota exceeded" in text


def atomic_write(
    path: str | os.PathLike[str], writer: Any, *, mode: int | None = None, size: int | None = None
) -> None:
    """Call ``writer(tmp_path)`` and rename the temporary file onto ``path`` when it succeeds.

    Args:
        path: the file written.
        writer: writes the temporary file it is given.
        mode: permissions of the file (default 0666 less the umask).
        size: bytes the write needs (for the message of a full disk), if known.

    Raises:
        UserError: the folder cannot be made or written in, or the disk is full (one line with
            the path and the space needed; the temporary file is removed). A ``writer`` failing
            otherwise raises its own error, after its temporary file is removed.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        if _is_full(exc):
            raise disk_full_error(target, size) from None
        raise UserError(
            f"cannot write the file ({exc.strerror or exc})", file=str(target)
        ) from None
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK if mode is None else mode)  # mkstemp creates 0600
    try:
        writer(tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if _is_full(exc):
            raise disk_full_error(target, size) from None
        raise


def write_table(
    frame: pd.DataFrame, path: str | os.PathLike[str], *, metadata: Mapping[str, Any] | None = None
) -> None:
    """Write ``frame`` as Parquet with ``metadata`` (JSON) in the file's key-value metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps(dict(metadata or {}), sort_keys=True, default=str).encode()
    table = table.replace_schema_metadata(meta)
    # the space needed is at most the table's size in memory (zstd only shrinks it)
    atomic_write(
        path, lambda tmp: pq.write_table(table, tmp, compression="zstd"), size=table.nbytes
    )


@contextmanager
def _reading(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a missing or unreadable Parquet file into a one-line :class:`UserError`."""
    try:
        yield
    except FileNotFoundError:
        raise UserError("input file does not exist", file=str(path)) from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"not a readable Parquet file ({exc})", file=str(path)) from None


def read_table(
    path: str | os.PathLike[str], *, columns: list[str] | None = None, key: str | None = None
) -> pd.DataFrame:
    """Read one Parquet file written by :func:`write_table` (``columns``: only these, each of
    which must be there; ``key``: the argument that named the file, for messages)."""
    with _reading(path):
        if columns is not None:
            names = pq.read_schema(path).names
            missing = [c for c in columns if c not in names]
            if missing:
                raise UserError(
                    f"table lacks column {missing[0]!r}",
                    file=str(path),
                    key=key,
                    allowed="a table with columns " + ", ".join(columns),
                )
        return pq.read_table(path, columns=columns).to_pandas()


def require_columns(
    frame: pd.DataFrame, columns: Iterable[str], *, file: str, key: str, writer: str
) -> None:
    """A table given on the command line must carry the columns the command reads.

    Args:
        frame: the table read from ``file``.
        columns: the columns needed.
        file, key: the file and the argument that named it (``--roofline``).
        writer: the command that writes such tables (``dse roofline``).
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(
            f"table lacks column {missing[0]!r}",
            file=str(file),
            key=key,
            allowed=f"a table written by {writer}",
        )


def read_tables(
    paths: Iterable[str | os.PathLike[str]],
    *,
    columns: list[str] | None = None,
    key: str | None = None,
) -> pd.DataFrame:
    """Read and concatenate several Parquet files (e.g. sweep shards and search workers)."""
    frames = [read_table(p, columns=columns, key=key) for p in paths]
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def read_rows(path: str | os.PathLike[str], rows: Any) -> pd.DataFrame:
    """Rows ``rows`` (positions, ascending) of one Parquet file, every column."""
    with _reading(path):
        return pq.read_table(path).take(pa.array(rows, type=pa.int64())).to_pandas()


def column_names(path: str | os.PathLike[str]) -> list[str]:
    """The column names of one Parquet file (its schema only is read)."""
    with _reading(path):
        return list(pq.read_schema(path).names)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Return the ``dse`` metadata dictionary stored by :func:`write_table`."""
    with _reading(path):
        meta = pq.read_schema(path).metadata or {}
    raw = meta.get(_META_KEY)
    return json.loads(raw) if raw else {}
