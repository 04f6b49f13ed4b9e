"""The shared study's storage: a journal file or an RDB URL, opened with one-line errors; the
study checked against this config; one process per worker; a batch written whole or not at all."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import importlib.util
import json
import os
import random
import re
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import optuna
from optuna.trial import FrozenTrial

from dse.config import check_journal_path
from dse.errors import UserError
from dse.search.settings import (
    ATTR_FINGERPRINT,
    SearchSettings,
    check_storage,
    is_url,
    mask_url,
)
from dse.secrets import scrub
from dse.store import disk_full_error

#: The pip extra that installs the PostgreSQL driver (psycopg 3).
POSTGRES_EXTRA = "pip install -e '.[postgres]'"

#: libpq settings of every PostgreSQL connection: the client notices a dead server, and the
#: server notices a dead client host (so its worker lock is freed) within about two minutes.
_PG_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 10, "keepalives": 1, "keepalives_idle": 60, "keepalives_interval": 10,
    "keepalives_count": 6,
    "options": "-c tcp_keepalives_idle=60 -c tcp_keepalives_interval=10 "
               "-c tcp_keepalives_count=6",
}


def engine_url(storage: str) -> str:
    """The SQLAlchemy URL of an RDB storage: ``postgresql://`` without a driver means psycopg 3
    (``postgresql+psycopg://``; SQLAlchemy's own default would be psycopg2), unless only
    psycopg2 is installed. A URL that names its driver is kept as it is."""
    scheme, rest = storage.split("://", 1)
    if scheme.lower() == "postgresql" and (importlib.util.find_spec("psycopg") is not None
                                           or importlib.util.find_spec("psycopg2") is None):
        return f"postgresql+psycopg://{rest}"
    return storage


def _dialect(storage: str) -> str:
    return storage.split("://", 1)[0].split("+", 1)[0].lower()


def open_storage(storage: str, *, key: str = "search.storage") -> optuna.storages.BaseStorage:
    """A journal file (any path) or an RDB (a URL); a UserError if it cannot be opened.

    The message never shows the URL's password.
    """
    shown = mask_url(storage)
    check_storage(storage, 1, key=key)
    try:
        if is_url(storage):
            return _open_rdb(storage)
        check_journal_path(storage, file=None, key=key)  # no folder, device, link or output
        path = Path(storage).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        warning = recover_journal(path)
        if warning:
            print(f"dse: warning: {warning}", file=sys.stderr)
        backend = _JournalFile(str(path), lock_obj=FlockJournalLock(str(path)))
        return optuna.storages.JournalStorage(backend)
    except UserError:
        raise
    except ImportError:
        if _dialect(storage) == "postgresql":
            message = f"no PostgreSQL driver (psycopg) is installed: {POSTGRES_EXTRA}"
        else:
            message = f"no database driver for {storage.split('://', 1)[0]!r} is installed"
        raise UserError(f"cannot open the storage: {message}", key=key, value=shown) from None
    except Exception as exc:  # noqa: BLE001 (any driver or OS error: report it on one line)
        raise UserError(f"cannot open the storage ({_one_line(exc, storage)})", key=key,
                        value=shown) from None


class _JournalFile(optuna.storages.journal.JournalFileBackend):
    """Optuna's journal file, whose full disk is one line (the path and the space needed), not
    an OSError trace. What a failed append left (a torn last record) is cut off by
    :func:`recover_journal` when the study is opened next."""

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        try:
            super().append_logs(logs)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                needed = sum(len(json.dumps(log, separators=(",", ":"))) + 1 for log in logs)
                raise disk_full_error(self._file_path, needed) from None
            raise


def recover_journal(path: str | os.PathLike[str]) -> str | None:
    """Cut a journal file back to its last complete record, under the journal's lock.

    A write cut short (a full disk, a crash of the machine) leaves a last record without its
    newline, or a record that is not JSON; Optuna then refuses to read the study at all, and a
    later append would glue a new record to the torn one. Everything from the first torn record
    on is dropped (records after a torn one were appended to a study Optuna could not read).

    Returns:
        A one-line warning naming what was dropped, or None when the journal was whole.
    """
    p = Path(path)
    if not p.is_file():
        return None
    lock = FlockJournalLock(str(p))
    lock.acquire()
    try:
        with open(p, "r+b") as f:
            good = records = 0
            torn = False
            for line in f:
                try:
                    complete = line.endswith(b"\n") and isinstance(json.loads(line), dict)
                except ValueError:
                    complete = False
                if not complete:
                    torn = True
                    break
                good += len(line)
                records += 1
            if not torn:
                return None
            size = f.seek(0, os.SEEK_END)
            f.seek(good)
            rest = f.read()
            lost_lines = rest.count(b"\n") + (not rest.endswith(b"\n"))
            f.truncate(good)
            f.flush()
            os.fsync(f.fileno())
    finally:
        lock.release()
    return (f"{p}: dropped a torn record at byte {good:,} ({size - good:,} bytes, about "
            f"{lost_lines} record(s) of an interrupted write); the study resumes from the "
            f"{records:,} complete records before it")


def _open_rdb(storage: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage; on PostgreSQL its tables are made under an advisory lock, because
    workers that start together on an empty database would otherwise race to create them (and
    all but one fail on PostgreSQL's catalog)."""
    url = engine_url(storage)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if _dialect(storage) != "postgresql":
        return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    kwargs["connect_args"] = dict(_PG_CONNECT_ARGS)
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool,
                                      connect_args=kwargs["connect_args"])
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_TABLES_LOCK})")
            try:
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_TABLES_LOCK})")
    finally:
        engine.dispose()


def _lock_key(*parts: object) -> int:
    """A signed 64-bit PostgreSQL advisory-lock key for ``parts``."""
    digest = hashlib.sha256(repr(("dse",) + parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


#: Advisory lock held while Optuna creates its tables.
_TABLES_LOCK = _lock_key("optuna tables")


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
    text = scrub((str(exc).strip().splitlines() or [type(exc).__name__])[0], storage)
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
    names = [name for name, _ in objectives]
    if study.metric_names != names:  # shown by optuna-dashboard and study.trials_dataframe()
        with warnings.catch_warnings():  # experimental since Optuna 3.2, stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    return study




class WorkerLock:
    """One process per worker index on a study, on any host: a journal study takes an OS lock
    on a file beside the journal, a PostgreSQL study an advisory lock in the database (held by
    a connection of its own). Both are released when the process dies, however it dies (the
    database notices a dead host by TCP keepalive).

    Two processes with the same ``--worker`` would replay the same batches: the work would
    double (and on a journal the trials too; an RDB study takes each batch once, see
    :func:`push_batch`, so there the lock saves work rather than rows). An SQLite study has one
    worker and no lock.

    Args:
        settings: the search settings (storage and study name).
        worker: the worker index.
    """

    def __init__(self, settings: SearchSettings, worker: int) -> None:
        self.path: Path | None = None
        self.worker = worker
        self._file: IO[bytes] | None = None
        self._storage = settings.storage
        self._pg_key: int | None = None
        self._conn: Any = None
        self._engine: Any = None
        if is_url(settings.storage):
            if _dialect(settings.storage) == "postgresql":
                self._pg_key = _lock_key("worker", settings.study_name, worker)
            return
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", settings.study_name)
        self.path = Path(f"{settings.storage}.{safe}.worker-{worker}.lock")

    def _refuse(self, where: str) -> UserError:
        return UserError(f"worker {self.worker} is already running on this study ({where})",
                         key="--worker", value=self.worker,
                         allowed="one process per worker index: wait for it or stop it")

    def __enter__(self) -> WorkerLock:
        if self._pg_key is not None:
            self._enter_pg()
            return self
        if self.path is None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+b")  # noqa: SIM115 (held open for the whole run)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise self._refuse(f"lock {self.path}") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n".encode())
        f.flush()
        self._file = f
        return self

    def _enter_pg(self) -> None:
        import sqlalchemy

        try:
            self._engine = sqlalchemy.create_engine(
                engine_url(self._storage), poolclass=sqlalchemy.pool.NullPool,
                connect_args=dict(_PG_CONNECT_ARGS))
            self._conn = self._engine.connect()
            got = self._conn.exec_driver_sql(
                f"SELECT pg_try_advisory_lock({self._pg_key})").scalar()
            self._conn.commit()   # the lock is the session's: it outlives the transaction
        except ImportError:
            self._close_pg()
            raise UserError(f"cannot open the storage: no PostgreSQL driver (psycopg) is "
                            f"installed: {POSTGRES_EXTRA}", key="--worker",
                            value=mask_url(self._storage)) from None
        except Exception as exc:  # noqa: BLE001
            self._close_pg()
            raise UserError(f"cannot take the worker lock ({_one_line(exc, self._storage)})",
                            key="--worker", value=self.worker) from None
        if not got:
            self._close_pg()
            raise self._refuse(f"PostgreSQL advisory lock {self._pg_key}")

    def _close_pg(self) -> None:
        conn, self._conn = self._conn, None
        engine, self._engine = self._engine, None
        if conn is not None:
            with contextlib.suppress(Exception):   # closing the session frees the lock anyway
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({self._pg_key})")
            with contextlib.suppress(Exception):
                conn.close()
        if engine is not None:
            engine.dispose()

    def __exit__(self, *exc: Any) -> None:
        self._close_pg()
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def batch_claim(*, worker: int, island: str, batch: int, size: int) -> str:
    """The study system attribute that records one stored batch of an RDB study."""
    return f"dse:batch:{island}:{worker}:{batch}:{size}"


def push_batch(storage: optuna.storages.BaseStorage, study_id: int,
               templates: Sequence[FrozenTrial], *, claim: str) -> bool:
    """Write one batch of finished trials into the shared study; False if it was there already.

    On an RDB the batch is one transaction that first locks the study's row (the lock Optuna
    itself takes to number a new trial): it writes the trials and the claim ``claim`` (a study
    system attribute) unless the claim is there. So a batch is in the study whole or not at all,
    and once, whichever process on whichever host writes it, even if two processes run the
    same worker. The rows are Optuna's (its models, numbered as Optuna numbers them, under the
    same lock), inserted in bulk: Optuna's ``create_new_trial`` makes ~60 round trips per trial
    (~12 trials/s per worker on a local server), a bulk batch a few per batch. A journal is
    written trial by trial (a cut batch leaves trials that the rerun does not count,
    :func:`dse.search.islands.stored_batches`).
    """
    if not isinstance(storage, optuna.storages.RDBStorage):
        for t in templates:
            storage.create_new_trial(study_id, template_trial=t)
        return True
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    attempts = 5
    for attempt in range(1, attempts + 1):
        try:
            with _create_scoped_session(storage.scoped_session) as session:
                study = models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
                if models.StudySystemAttributeModel.find_by_study_and_key(study, claim, session):
                    return False
                _insert_trials(session, study_id, templates)
                session.add(models.StudySystemAttributeModel(
                    study_id=study_id, key=claim, value_json=json.dumps(len(templates))))
            return True
        except optuna.exceptions.StorageInternalError:
            # a dropped connection or a deadlock: nothing of the batch was written; retry as
            # Optuna does for one trial
            if attempt == attempts:
                raise
            time.sleep(random.random() * 2.0)
    raise AssertionError("unreachable")


def _insert_trials(session: Any, study_id: int, templates: Sequence[FrozenTrial]) -> None:
    """Insert finished trials as Optuna's RDB storage stores them (the caller holds the study's
    row lock, so the numbers continue the study's count as Optuna's would)."""
    from optuna import distributions
    from optuna.storages._rdb import models
    from sqlalchemy import func

    first = session.query(func.count(models.TrialModel.trial_id)).filter(
        models.TrialModel.study_id == study_id).scalar()
    # a parameter keeps its distribution across the study (Optuna checks this per trial)
    for name, dist in {n: d for t in templates for n, d in t.distributions.items()}.items():
        previous = (session.query(models.TrialParamModel.distribution_json)
                    .join(models.TrialModel)
                    .filter(models.TrialModel.study_id == study_id,
                            models.TrialParamModel.param_name == name).first())
        if previous is not None:
            distributions.check_distribution_compatibility(
                distributions.json_to_distribution(previous[0]), dist)
    rows = [models.TrialModel(study_id=study_id, number=first + i, state=t.state,
                              datetime_start=t.datetime_start,
                              datetime_complete=t.datetime_complete)
            for i, t in enumerate(templates)]
    session.add_all(rows)
    session.flush()   # the trial ids
    children: list[Any] = []
    for row, t in zip(rows, templates, strict=True):
        for objective, value in enumerate(t.values or []):
            stored, kind = models.TrialValueModel.value_to_stored_repr(value)
            children.append(models.TrialValueModel(trial_id=row.trial_id, objective=objective,
                                                   value=stored, value_type=kind))
        for name, value in t.params.items():
            dist = t.distributions[name]
            children.append(models.TrialParamModel(
                trial_id=row.trial_id, param_name=name, param_value=dist.to_internal_repr(value),
                distribution_json=distributions.distribution_to_json(dist)))
        for cls, attrs in ((models.TrialUserAttributeModel, t.user_attrs),
                           (models.TrialSystemAttributeModel, t.system_attrs)):
            children += [cls(trial_id=row.trial_id, key=k, value_json=json.dumps(v))
                         for k, v in attrs.items()]
    session.add_all(children)
