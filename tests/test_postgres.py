"""Search workers on a PostgreSQL study: three `dse search` processes on one study, one of them
SIGKILLed and restarted; batches written whole and once; one process per worker index across
hosts (an advisory lock in the database); a missing driver named in one line.

The server is ``DSE_TEST_POSTGRES_URL`` (CI: ``.ci/postgres.sh``) or one started here from the
installed binaries (tests/postgres_server.py); without either the tests skip with the reason.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from dse import search, store
from dse.config import load_config
from dse.model import Model
from dse.pareto import front
from dse.results import results_frame
from dse.search import storage as storage_module
from dse.search.storage import engine_url
from dse.space import Grid, design_id
from tests import postgres_server
from tests.test_search import run_cli, write_config

ROOT = Path(__file__).resolve().parent.parent
SEARCH_CONFIG = ROOT / "tests" / "data" / "search_config.yaml"
BATCH = 20   # search.batch_size of the test config

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="session")
def pg_url():
    """The URL of a PostgreSQL database the tests may write to (with a password in it)."""
    url = os.environ.get(postgres_server.ENV_URL)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if url:   # a server was provided for these tests (CI): they must run
            pytest.fail(f"{postgres_server.ENV_URL} is set but psycopg is not installed")
        pytest.skip("psycopg is not installed (pip install -e '.[postgres]')")
    if url:
        yield url
        return
    try:
        server = postgres_server.start()
    except postgres_server.Unavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def scfg():
    return load_config(SEARCH_CONFIG)


@pytest.fixture(scope="module")
def warm_front_file(tmp_path_factory, scfg):
    """The test config's sweep front (its grid evaluated exhaustively) as a Parquet file."""
    model = Model(scfg.platform, scfg.workload)
    grid = Grid(scfg.raw["sweep"]["space"])
    index = np.arange(grid.size)
    batch = grid.decode(index)
    frame = results_frame(model, batch, model.evaluate(batch), design_id("g", index))
    path = tmp_path_factory.mktemp("pgwarm") / "front.parquet"
    store.write_table(front(frame, scfg.objectives), path)
    return path


def _password(url: str) -> str:
    """The URL's password ("" without one); outputs must never show it."""
    m = re.search(r"://[^:/@]*:([^@]*)@", url)
    return m.group(1) if m else ""


def _study() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def _dse(*args: object) -> list[str]:
    return [sys.executable, "-m", "dse.cli", *map(str, args)]


def _worker_rows(url: str, study: str) -> list[tuple[int, int, int, int]]:
    """(worker, batch, index, batch_size) of every trial of ``study``, straight from the
    database (as another host sees it)."""
    import psycopg

    keys = ("worker", "batch", "index", "batch_size")
    with psycopg.connect(re.sub(r"^postgresql\+\w+://", "postgresql://", url)) as conn:
        if conn.execute("SELECT to_regclass('trial_user_attributes')").fetchone()[0] is None:
            return []   # no worker has made Optuna's tables yet
        rows = conn.execute(
            "SELECT t.trial_id, a.key, a.value_json FROM trials t "
            "JOIN studies s ON s.study_id = t.study_id "
            "JOIN trial_user_attributes a ON a.trial_id = t.trial_id "
            "WHERE s.study_name = %s AND a.key = ANY(%s)", (study, list(keys))).fetchall()
    by_trial: dict[int, dict[str, int]] = {}
    for trial_id, key, value in rows:
        by_trial.setdefault(trial_id, {})[key] = json.loads(value)
    return [tuple(v[k] for k in keys) for v in by_trial.values()]


def _reference(scfg, warm_front_file, tmp_path: Path, trials: dict[int, int]) -> dict:
    """Each worker's rows from an uninterrupted in-process run on an in-memory study, through
    the same Parquet writer as ``dse search``."""
    settings = search.settings_from_config(scfg)
    model = scfg.model()   # with the mapper, as dse search exports
    warm = store.read_table(warm_front_file)
    out = {}
    for w, n in trials.items():
        report = search.run_worker(scfg, settings, worker=w, trials=n, warm_front=warm,
                                   storage=optuna.storages.InMemoryStorage(), log=lambda _: None)
        path = tmp_path / f"ref-{w}.parquet"
        store.write_table(search.export_frame(model, settings.space, report.trials,
                                              batch_size=settings.batch_size), path)
        out[w] = store.read_table(path)
    return out


@pytest.mark.postgres
def test_three_workers_one_killed_and_restarted_give_the_uninterrupted_rows(
        pg_url, scfg, warm_front_file, tmp_path):
    study = _study()
    config = write_config(tmp_path, workers=3)

    def start(w: int, trials: int) -> subprocess.Popen:
        return subprocess.Popen(
            _dse("search", "--config", config, "--worker", w, "--storage", pg_url,
                 "--study-name", study, "--warm-start", warm_front_file, "--trials", trials,
                 "--out", tmp_path / f"worker-{w}.parquet"),
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    # workers 0 and 2 do 60 trials (3 batches) each; worker 1 is asked for far more, so it is still
    # running when it is killed (a plan's first batches do not depend on its length)
    procs = {0: start(0, 60), 1: start(1, 1_000_000), 2: start(2, 60)}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:   # kill worker 1 once 2 batches are in the study
            time.sleep(0.1)
            if sum(r[0] == 1 for r in _worker_rows(pg_url, study)) >= 2 * BATCH:
                break
        procs[1].send_signal(signal.SIGKILL)
        procs[1].communicate(timeout=30)
        assert procs[1].returncode == -signal.SIGKILL
        for w in (0, 2):
            out, err = procs[w].communicate(timeout=180)
            assert procs[w].returncode == 0, err
    finally:
        for p in procs.values():
            p.kill()
    stored_1 = sum(r[0] == 1 for r in _worker_rows(pg_url, study))
    # each batch is one transaction: the kill leaves whole batches only
    assert stored_1 >= 2 * BATCH and stored_1 % BATCH == 0
    target_1 = stored_1 + BATCH
    rerun = subprocess.run(
        _dse("search", "--config", config, "--worker", 1, "--storage", pg_url,
             "--study-name", study, "--warm-start", warm_front_file, "--trials", target_1,
             "--out", tmp_path / "worker-1.parquet"),
        cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert (summary["trials_before"], summary["trials_added"]) == (stored_1, BATCH)
    assert not _password(pg_url) or _password(pg_url) not in rerun.stdout + rerun.stderr

    # the study: exactly the requested trials, each (worker, batch, index) once
    rows = _worker_rows(pg_url, study)
    assert len(rows) == 60 + 60 + target_1 == summary["study_trials"]
    assert len(set(rows)) == len(rows)
    assert pd.Series([r[0] for r in rows]).value_counts().to_dict() == {
        0: 60, 1: target_1, 2: 60}
    storage = search.open_storage(pg_url)
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert sorted(t.number for t in trials) == list(range(len(rows)))

    # the exports: design ids unique across workers, rows equal to uninterrupted runs
    got = {w: store.read_table(tmp_path / f"worker-{w}.parquet") for w in (0, 1, 2)}
    assert pd.concat([f["design_id"] for f in got.values()]).is_unique
    ref = _reference(scfg, warm_front_file, tmp_path, {0: 60, 1: target_1, 2: 60})
    for w in (0, 1, 2):
        pd.testing.assert_frame_equal(got[w], ref[w])


class _Killed(Exception):
    pass


@pytest.mark.postgres
def test_a_batch_cut_inside_its_transaction_leaves_no_trial(pg_url, scfg, warm_front_file,
                                                            tmp_path, monkeypatch):
    study = _study()
    settings = search.settings_from_config(scfg, storage=pg_url, study_name=study)
    warm = store.read_table(warm_front_file)
    insert = storage_module._insert_trials
    batches = {"n": 0}

    def dying(session, *args, **kwargs):   # dies in batch 2, its rows sent but not committed
        insert(session, *args, **kwargs)
        session.flush()
        batches["n"] += 1
        if batches["n"] == 3:
            raise _Killed

    monkeypatch.setattr(storage_module, "_insert_trials", dying)
    with pytest.raises(_Killed):
        search.run_worker(scfg, settings, worker=0, trials=100, warm_front=warm,
                          storage=search.open_storage(pg_url), log=lambda _: None)
    monkeypatch.undo()
    assert len(_worker_rows(pg_url, study)) == 2 * BATCH   # batches 0 and 1, nothing of 2
    report = search.run_worker(scfg, settings, worker=0, trials=100, warm_front=warm,
                               storage=search.open_storage(pg_url), log=lambda _: None)
    assert (report.trials_before, report.trials_added) == (2 * BATCH, 3 * BATCH)
    assert len(_worker_rows(pg_url, study)) == 100
    frame = search.export_frame(scfg.model(), settings.space, report.trials, batch_size=BATCH)
    store.write_table(frame, tmp_path / "w0.parquet")
    ref = _reference(scfg, warm_front_file, tmp_path, {0: 100})[0]
    pd.testing.assert_frame_equal(store.read_table(tmp_path / "w0.parquet"), ref)


@pytest.mark.postgres
def test_one_worker_on_two_hosts_without_the_lock_writes_each_batch_once(pg_url, scfg):
    # as if the worker lock were lost (a network partition): two processes run worker 0 at
    # once; both read the study before either writes, so both sample and write all 5 batches
    study = _study()
    settings = search.settings_from_config(scfg, storage=pg_url, study_name=study)
    barrier = threading.Barrier(2, timeout=60)
    reports: list = []

    def run() -> None:
        storage = search.open_storage(pg_url)
        read = storage.get_all_trials

        def read_together(*args, **kwargs):
            found = read(*args, **kwargs)
            barrier.wait()
            return found

        storage.get_all_trials = read_together
        reports.append(search.run_worker(scfg, settings, worker=0, trials=100,
                                         storage=storage, log=lambda _: None))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(reports) == 2
    assert [r.trials_added for r in reports] == [100, 100]      # both did the work ...
    rows = _worker_rows(pg_url, study)
    assert len(rows) == 100 and len(set(rows)) == 100            # ... the study took it once
    # and both copies were the same trials (the island is reproducible)
    assert [t.params for t in reports[0].trials] == [t.params for t in reports[1].trials]


@pytest.mark.postgres
def test_a_second_process_with_the_same_worker_is_refused_on_postgres(pg_url, tmp_path,
                                                                      capsys):
    study = _study()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from dse import search; from dse.config import load_config; "
        f"s = search.settings_from_config(load_config({str(SEARCH_CONFIG)!r}), "
        f"storage=sys.argv[1], study_name={study!r}); "
        "lock = search.WorkerLock(s, 0).__enter__(); print('held', flush=True); "
        "time.sleep(600)"), pg_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    password = _password(pg_url) or "\0"   # (no password: nothing to hide)
    base = ["search", "--config", SEARCH_CONFIG, "--storage", pg_url, "--study-name", study,
            "--trials", BATCH]
    try:
        assert holder.stdout.readline().strip() == "held", holder.stderr.read()
        code, out, err = run_cli(capsys, *base, "--worker", 0, "--out", tmp_path / "w0.parquet")
        assert code == 2 and len(err.strip().splitlines()) == 1
        assert "--worker" in err and "already running" in err
        assert password not in out + err
        assert not (tmp_path / "w0.parquet").exists()
        # another worker index runs meanwhile
        code, out, err = run_cli(capsys, *base, "--worker", 1, "--out", tmp_path / "w1.parquet")
        assert code == 0, err
        assert password not in out + err
        holder.send_signal(signal.SIGKILL)   # the holder's host goes down
        holder.wait(timeout=30)
    finally:
        holder.kill()
    # the server frees the lock with the dead process's connection (a moment after the kill)
    for _ in range(50):
        code, out, err = run_cli(capsys, *base, "--worker", 0, "--out", tmp_path / "w0.parquet")
        if code == 0 or "already running" not in err:
            break
        time.sleep(0.2)
    assert code == 0, err


def test_a_plain_postgresql_url_means_psycopg_3():
    pytest.importorskip("psycopg")
    assert engine_url("postgresql://u:pw@h/db") == "postgresql+psycopg://u:pw@h/db"
    assert engine_url("postgresql+psycopg2://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert engine_url("sqlite:///x.db") == "sqlite:///x.db"


def test_a_missing_driver_names_the_extra_in_one_line(tmp_path, capsys, monkeypatch):
    # None in sys.modules makes an import fail as if the package were not installed
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    code, out, err = run_cli(capsys, "search", "--config", SEARCH_CONFIG, "--worker", 0,
                              "--out", tmp_path / "w.parquet",
                              "--storage", "postgresql://dse:s3cret@127.0.0.1:9/optuna")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "pip install -e '.[postgres]'" in err and "psycopg" in err
    assert "s3cret" not in out + err
