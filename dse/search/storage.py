"""The shared study's storage: a journal file or an RDB URL, opened with one-line errors; the
study checked against this config; one process per worker."""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import optuna

from dse.errors import UserError
from dse.search.settings import (
    ATTR_FINGERPRINT,
    SearchSettings,
    check_storage,
    is_url,
    mask_url,
)


def open_storage(storage: str, *, key: str = "search.storage") -> optuna.storages.BaseStorage:
    """A journal file (any path) or an RDB (a URL); a UserError if it cannot be opened.

    The message never shows the URL's password.
    """
    shown = mask_url(storage)
    check_storage(storage, 1, key=key)
    try:
        if is_url(storage):
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if storage.startswith("postgresql"):
                kwargs["connect_args"] = {"connect_timeout": 10}
            return optuna.storages.RDBStorage(storage, engine_kwargs=kwargs)
        path = Path(storage).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(
            str(path), lock_obj=FlockJournalLock(str(path)))
        return optuna.storages.JournalStorage(backend)
    except ImportError:
        scheme = storage.split("://", 1)[0]
        raise UserError(f"cannot open the storage: no database driver for {scheme!r} is "
                        "installed (e.g. pip install psycopg2-binary for postgresql)", key=key,
                        value=shown) from None
    except Exception as exc:  # noqa: BLE001 (any driver or OS error: report it on one line)
        raise UserError(f"cannot open the storage ({_one_line(exc, storage)})", key=key,
                        value=shown) from None


class FlockJournalLock(optuna.storages.journal.JournalFileOpenLock):
    """The journal's write lock as an OS lock (``flock`` on ``<journal>.flock``).

    Optuna's default lock is a symbolic link that a killed writer leaves behind; the others then
    wait for a 30 s grace period, and with a relative journal path they spin for ever (the
    grace check stats the link's target relative to the link's folder, which does not exist).
    The kernel releases an OS lock when its process dies, however it dies.

    Args:
        filepath: the journal file.
    """

    def __init__(self, filepath: str) -> None:
        super().__init__(filepath)
        self._flock_path = filepath + ".flock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self._flock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _one_line(exc: BaseException, storage: str) -> str:
    """First line of an exception, with the storage's password masked."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    m = re.search(r"://[^:/@]*:([^@]*)@", storage)
    if m and m.group(1):
        text = text.replace(m.group(1), "***")
    return f"{type(exc).__name__}: {text}"[:300]


def open_study(settings: SearchSettings, objectives: Sequence[tuple[str, str]], *,
               storage: optuna.storages.BaseStorage | None = None) -> optuna.Study:
    """Create or load the shared study and check that it belongs to this config."""
    if storage is None:
        storage = open_storage(settings.storage, key=settings.storage_key)
    directions = [("maximize" if d == "max" else "minimize") for _, d in objectives]
    try:
        study = optuna.create_study(storage=storage, study_name=settings.study_name,
                                    directions=directions, load_if_exists=True)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot open the study ({_one_line(exc, settings.storage)})",
                        key=settings.storage_key, value=settings.storage_shown) from None
    if [d.name.lower() for d in study.directions] != directions:
        raise UserError("the stored study has other objective directions", key="search.study_name",
                        value=settings.study_name, allowed="a new study_name")
    found = study.user_attrs.get(ATTR_FINGERPRINT)
    if found is None:
        study.set_user_attr(ATTR_FINGERPRINT, settings.fingerprint)
    elif found != settings.fingerprint:
        raise UserError(f"the stored study was made for another platform, model, objectives or "
                        f"space (fingerprint {found}, this config {settings.fingerprint})",
                        file=settings.file, key="search.study_name", value=settings.study_name,
                        allowed="another study_name, or leave it unset (dse-<fingerprint>)")
    return study




class WorkerLock:
    """One process per worker index on a journal study (an OS lock, released even on SIGKILL).

    Two processes with the same ``--worker`` would replay the same batches: the export would
    stay right (trials are keyed by batch and index), but the work and the journal would double.
    On an RDB there is no shared file to lock; duplicates are harmless there for that reason.

    Args:
        settings: the search settings (storage and study name).
        worker: the worker index.
    """

    def __init__(self, settings: SearchSettings, worker: int) -> None:
        self.path: Path | None = None
        self._file: IO[bytes] | None = None
        if is_url(settings.storage):
            return
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", settings.study_name)
        self.path = Path(f"{settings.storage}.{safe}.worker-{worker}.lock")
        self.worker = worker

    def __enter__(self) -> WorkerLock:
        if self.path is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+b")  # noqa: SIM115 (held open for the whole run)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise UserError(f"worker {self.worker} is already running on this study "
                            f"(lock {self.path})", key="--worker", value=self.worker,
                            allowed="one process per worker index: wait for it or stop it"
                            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n".encode())
        f.flush()
        self._file = f
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
