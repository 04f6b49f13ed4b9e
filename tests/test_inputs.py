"""Hostile inputs (issue 20): each case a user or an attacker can put in a config, platform,
model or HF config.json is refused with one line and exit code 2, promptly, and nothing
impossible is accepted or clamped in silence. Each test failed before the fix it names."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks.fuzz_configs import run_dse
from dse.errors import UserError
from dse.params import EXAMPLE_DESIGN
from tests.conftest import ROOT

CONFIGS = ROOT / "configs"


@pytest.fixture
def files(tmp_path):
    """A copy of configs/ (config, platforms, models) to spoil one file of."""
    dest = tmp_path / "configs"
    shutil.copytree(CONFIGS, dest)
    return dest


def evaluate(config: Path) -> tuple[int | None, str]:
    """`dse evaluate` in this process: (exit code, stderr); a traceback fails the test."""
    code, _, err, tb = run_dse(
        ["evaluate", "--config", str(config), "--design", json.dumps(EXAMPLE_DESIGN)]
    )
    assert tb is None, tb
    return code, err


def refused(config: Path, *words: str) -> str:
    """Evaluate ``config``; it must exit 2 with one line holding every word of ``words``."""
    code, err = evaluate(config)
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


# ---- file kinds and sizes ------------------------------------------------------------------


def _evaluate_subprocess(config: Path) -> subprocess.CompletedProcess[str]:
    # a FIFO hung `dse` for ever before the fix: a subprocess with a timeout fails instead
    return subprocess.run(
        [sys.executable, "-m", "dse.cli", "evaluate", "--config", str(config), "--design",
         json.dumps(EXAMPLE_DESIGN)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_fifo_as_the_platform_is_refused_without_waiting(files):
    fifo = files / "platforms" / "fifo.yaml"
    os.mkfifo(fifo)
    edit(files / "config.yaml", "platform: platforms/u280.yaml", f"platform: {fifo}")
    proc = _evaluate_subprocess(files / "config.yaml")
    assert proc.returncode == 2, proc.stderr
    assert "FIFO" in proc.stderr and len(proc.stderr.splitlines()) == 1


@pytest.mark.parametrize("target,kind", [("/dev/zero", "character device"), ("DIR", "folder")])
def test_a_device_or_a_folder_as_the_platform_is_refused(files, target, kind):
    # /dev/zero never ends: it ran out of memory before the fix
    target = str(files / "platforms") if target == "DIR" else target
    edit(files / "config.yaml", "platform: platforms/u280.yaml", f"platform: {target}")
    refused(files / "config.yaml", kind, "a regular file")


def test_an_oversized_model_is_refused_before_it_is_read(files):
    from dse import loader

    model = files / "models" / "smolvla_vision.yaml"
    with model.open("a") as fh:  # a comment of 9 MiB: valid YAML, too large to be an input
        fh.write("# " + "x" * (loader.MAX_FILE_BYTES + 10) + "\n")
    refused(files / "config.yaml", "too large", "smolvla_vision.yaml")


# ---- YAML: aliases, integers, nesting, duplicates, YAML 1.1 numbers --------------------------


def test_an_alias_bomb_is_refused_quickly(files):
    # 9 levels of 9 aliases: 9^9 = 387 M nodes once expanded (~100 s and a MemoryError before)
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    model = files / "models" / "smolvla_vision.yaml"
    model.write_text(model.read_text() + "\n".join(lines) + "\n")
    refused(files / "config.yaml", "expands to more than", "aliases")


def test_a_recursive_alias_is_refused(files):
    model = files / "models" / "smolvla_vision.yaml"
    model.write_text(model.read_text() + "loop: &x [*x]\n")
    refused(files / "config.yaml", "recursive alias")


def test_an_integer_of_5000_digits_is_refused(files):
    # Python refuses int() of more than 4,300 digits with a ValueError: a traceback before
    edit(files / "config.yaml", "cameras: 3", "cameras: " + "7" * 5000)
    refused(files / "config.yaml", "integer of 5,000 digits", "config.yaml")


def test_an_integer_of_5000_digits_in_a_hf_config_is_refused(files):
    hf = files / "models" / "vit_b16.json"
    data = json.loads(hf.read_text())
    hf.write_text(json.dumps(data).replace('"num_hidden_layers": 12',
                                           '"num_hidden_layers": ' + "9" * 5000))
    edit(files / "config.yaml", "models/smolvla_vision.yaml", "models/vit_b16.json")
    refused(files / "config.yaml", "integer of 5,000 digits", "vit_b16.json")


def test_deep_nesting_is_refused(files):
    edit(files / "config.yaml", "cameras: 3", "cameras: " + "[" * 500 + "]" * 500)
    refused(files / "config.yaml", "nested more than")


def test_a_duplicate_key_is_refused_not_last_one_wins(files):
    # an appended `cameras: 64` made latency 21x before the fix
    config = files / "config.yaml"
    config.write_text(config.read_text() + "cameras: 64\n")
    refused(config, "duplicate key 'cameras'", "first at line")


def test_a_duplicate_key_in_json_is_refused(files):
    hf = files / "models" / "vit_b16.json"
    hf.write_text(hf.read_text().replace("{", '{"num_hidden_layers": 2, ', 1))
    edit(files / "config.yaml", "models/smolvla_vision.yaml", "models/vit_b16.json")
    refused(files / "config.yaml", "duplicate key", "num_hidden_layers")


@pytest.mark.parametrize("number", ["012", "0b1100", "1_2", "1:30"])
def test_yaml_11_only_numbers_are_refused(files, number):
    # YAML 1.1 reads 012 as octal 10 (10 layers instead of 12); YAML 1.2 as 12
    edit(files / "models" / "smolvla_vision.yaml", "layers: 12", f"layers: {number}")
    refused(files / "config.yaml", "YAML 1.1", repr(number))


def test_the_loader_reads_yaml_12_decimals_and_keeps_merge_keys():
    from dse import loader

    assert loader.parse_yaml("a: 12\nb: 0x10\nc: -0\nd: 0.5", file="f") == {
        "a": 12, "b": 16, "c": 0, "d": 0.5}
    text = "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n"
    assert loader.parse_yaml(text, file="f")["c"] == {"x": 3, "y": 2}


# ---- trailing newlines and ids written into generated files ----------------------------------


@pytest.mark.parametrize(
    "file,old,new",
    [
        ("platforms/u280.yaml", "name: u280", 'name: "u280\\n"'),
        ("platforms/u280.yaml", "part: xcu280-fsvh2892-2L-e", 'part: "xcu280-fsvh2892-2L-e\\n"'),
        ("platforms/u280.yaml", "vitis_platform: xilinx_u280_gen3x16_xdma_1_202211_1",
         'vitis_platform: "xilinx_u280_gen3x16_xdma_1_202211_1\\n"'),
        ("platforms/u280.yaml", "name: SLR0", 'name: "SLR0\\n"'),
        ("models/smolvla_vision.yaml", "name: smolvla_vision", 'name: "smolvla_vision\\n"'),
    ],
)
def test_a_trailing_newline_in_a_patterned_name_is_refused(files, file, old, new):
    # `$` matches before a final newline: link.cfg got a stray line and summary.md a split title
    edit(files / file, old, new)
    refused(files / "config.yaml", "malformed")


def test_export_refuses_a_design_id_with_a_newline(tmp_path):
    from dse.commands.export import export_rows

    out = tmp_path / "hls"
    with pytest.raises(UserError, match="design_id cannot name a folder"):
        export_rows([{"design_id": "evil\n"}], {}, out)
    assert not out.exists() and list(tmp_path.iterdir()) == []


# ---- physics and nonsense accepted silently -------------------------------------------------


@pytest.mark.parametrize(
    "old,new,words",
    [
        ("bits: 8\n", "bits: 32\n", ("precisions.INT8.bits", "by definition")),
        ("bits: 32                                     # IEEE", "bits: 4  # IEEE",
         ("precisions.FP32.bits",)),
        ("macs_per_dsp: 0.2 ", "macs_per_dsp: 16 ", ("precisions.FP32.macs_per_dsp", "0.5")),
        ("macs_per_dsp: 2.0 ", "macs_per_dsp: 6.0 ", ("precisions.INT8.macs_per_dsp", "2")),
        ("INT4xINT8: 2.0 ", "INT4xINT8: 4.0 ", ("mixed_mac.INT4xINT8", "at most 3")),
        ("base_mhz: 345 ", "base_mhz: 1000 ", ("timing.base_mhz", "max_kernel_mhz (500)")),
    ],
)
def test_impossible_platform_facts_are_refused(files, old, new, words):
    edit(files / "platforms" / "u280.yaml", old, new)
    refused(files / "config.yaml", "u280.yaml", *words)


def test_macs_per_dsp_bounds_follow_the_dsp48e2_width():
    from dse import physics

    # 27 x 18 multiplier, 45-bit product: INT8 x INT8 packs 2 (AMD WP486), INT4 x INT4 at most
    # floor(45 / 8) = 5, INT4 x INT8 floor(45 / 12) = 3; FP32's 24 x 24 significands need two
    # DSPs (ceil(24 / 18) = 2), so 0.5
    assert physics.max_macs_per_dsp("INT8", "INT8") == 2
    assert physics.max_macs_per_dsp("INT4", "INT4") == 5
    assert physics.max_macs_per_dsp("INT4", "INT8") == 3
    assert physics.max_macs_per_dsp("FP32", "FP32") == 0.5
    assert physics.max_macs_per_dsp("BF16", "BF16") == 2


def test_every_shipped_platform_passes_the_physics_checks():
    from dse.config import load_validated

    for path in sorted((CONFIGS / "platforms").glob("*.yaml")):
        load_validated(path, "platform")


def test_a_quality_penalty_lower_for_int4_than_fp32_is_refused(files):
    edit(files / "models" / "smolvla_vision.yaml", "INT4: 0.04124", "INT4: 0.0")
    edit(files / "models" / "smolvla_vision.yaml", "FP32: 0.0 ", "FP32: 0.01 ")
    refused(files / "config.yaml", "quality.penalty.BF16")


def test_hf_hidden_act_as_a_list_is_refused(files):
    hf = files / "models" / "vit_b16.json"
    data = json.loads(hf.read_text())
    data["hidden_act"] = ["gelu"]  # TypeError: unhashable type before the fix
    hf.write_text(json.dumps(data))
    edit(files / "config.yaml", "models/smolvla_vision.yaml", "models/vit_b16.json")
    refused(files / "config.yaml", "hidden_act", "activation not modelled")


def test_hf_negative_type_vocab_size_is_refused(files):
    hf = files / "models" / "bert_base_uncased.json"
    data = json.loads(hf.read_text())
    data["type_vocab_size"] = -2  # silently read as "a token-type embedding" before
    hf.write_text(json.dumps(data))
    edit(files / "config.yaml", "models/smolvla_vision.yaml", "models/bert_base_uncased.json")
    refused(files / "config.yaml", "type_vocab_size", "-2")


@pytest.mark.parametrize(
    "storage,words",
    [
        ("results/selected.parquet", (".parquet file",)),
        ("/dev/null", ("not a regular file",)),
        ("/tmp", ("is a folder",)),
        ("platforms/u280.yaml", (".yaml file",)),
    ],
)
def test_a_journal_that_is_an_output_a_device_or_a_folder_is_refused(files, storage, words):
    edit(files / "config.yaml", "storage: results/search/study.journal", f"storage: {storage}")
    refused(files / "config.yaml", "search.storage", *words)


def test_a_journal_that_is_a_link_is_refused(files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "j.journal").symlink_to(tmp_path / "elsewhere")
    edit(files / "config.yaml", "storage: results/search/study.journal", "storage: j.journal")
    refused(files / "config.yaml", "search.storage", "symbolic link")


def test_a_grid_of_2_5e12_designs_is_refused_before_the_sweep(files):
    # accepted before, then ArrayMemoryError ("Unable to allocate 18.5 TiB") in the sweep job
    config = files / "config.yaml"
    raw = yaml.safe_load(config.read_text())
    space = raw["sweep"]["space"]
    space["tile_m"] = list(range(32, 32 * 401, 32))
    space["tile_n"] = list(range(32, 32 * 401, 32))
    space["tile_k"] = list(range(32, 32 * 301, 32))
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    from dse.space import Grid

    assert Grid(space).size > 2e12
    refused(config, "designs", "sweep.space", "memory")


def test_the_grid_check_names_the_shards_when_more_would_fit():
    from dse.sizing import RAM_BYTES_PER_DESIGN, check_sweep_size, physical_memory_bytes

    ram = physical_memory_bytes()
    designs = int(ram / RAM_BYTES_PER_DESIGN)  # one shard would take all the memory
    with pytest.raises(UserError, match=r"sweep.shards.*allowed: sweep.shards >= 2"):
        check_sweep_size(designs, 1, file="c.yaml")
    check_sweep_size(designs, 4, file="c.yaml", folder="/")  # a quarter each: fits


def test_named_designs_that_cannot_exist_are_refused_for_the_workflow():
    from dse.config import check_named

    raw = yaml.safe_load((CONFIGS / "config.yaml").read_text())
    raw["select"]["named"] = ["g-000000001", "s1-000000003", "r-0123456789abcdef"]
    check_named(raw, file="c")
    for bad in ("nope", "g-999999999999", "s7-000000001", "g-1"):
        raw["select"]["named"] = [bad]
        with pytest.raises(UserError, match=r"select.named\[0\]"):
            check_named(raw, file="c")


# ---- secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url,secret",
    [
        ("postgresql://u:s3cret@h/db", "s3cret"),
        ("postgresql://u@h/db?password=s3cret", "s3cret"),
        ("postgresql://u@h/db?sslmode=require&password=s3cret&x=1", "s3cret"),
        ("postgresql://u:p@ss3cret@h/db", "p@ss3cret"),  # a raw @ in the password
        ("postgresql+psycopg://u:s3/cret@h:5432/db", "s3/cret"),
    ],
)
def test_every_url_form_has_its_password_masked(url, secret):
    from dse.search import mask_url
    from dse.secrets import scrub

    shown = mask_url(url)
    assert secret not in shown and secret.split("@")[-1] not in shown and "***" in shown
    assert secret not in scrub(f"could not connect to {url}: bad password {secret}", url)


def test_an_unsupported_dialect_error_masks_a_query_password(files):
    edit(files / "config.yaml", "storage: results/search/study.journal",
         "storage: mysql://u@h/db?password=s3cret")
    from dse.config import load_config
    from dse.search import settings_from_config

    with pytest.raises(UserError) as exc:
        settings_from_config(load_config(files / "config.yaml"))
    assert "s3cret" not in str(exc.value) and "password=***" in str(exc.value)


# ---- the journal: torn records, a full disk, links ------------------------------------------


def _journal(tmp_path, n=3):
    import optuna

    path = tmp_path / "study.journal"
    from dse.search.storage import open_storage

    storage = open_storage(str(path))
    study = optuna.create_study(storage=storage, study_name="s", directions=["minimize"])
    for i in range(n):
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, values=[float(i)]))
    return path


def test_a_torn_last_journal_record_is_cut_off_with_a_warning_and_the_study_resumes(
    tmp_path, capsys
):
    import optuna

    from dse.search.storage import open_storage

    path = _journal(tmp_path)
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"op_code": 5, "worker_id": "x", "trial_id"')  # disk full here
    storage = open_storage(str(path))  # JSONDecodeError on every rerun before the fix
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("dse:")]
    assert len(warnings) == 1 and "dropped a torn record" in warnings[0]
    assert str(path) in warnings[0]
    assert path.read_bytes() == whole
    study = optuna.load_study(study_name="s", storage=storage)
    assert [t.values[0] for t in study.trials] == [0.0, 1.0, 2.0]
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, values=[3.0]))
    assert len(optuna.load_study(study_name="s", storage=open_storage(str(path))).trials) == 4


def test_a_torn_record_glued_to_a_later_one_is_cut_off(tmp_path, capsys):
    from dse.search.storage import open_storage

    path = _journal(tmp_path)
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"op_code": 5, "wor{"op_code": 0}\n{"op_code": 1}\n')
    open_storage(str(path))
    assert "about 2 record(s)" in capsys.readouterr().err
    assert path.read_bytes() == whole


def test_a_full_disk_while_appending_to_the_journal_is_one_line(tmp_path, monkeypatch):
    import optuna

    from dse.search.storage import open_storage

    path = _journal(tmp_path)
    storage = open_storage(str(path))
    real_open = open

    def full(file, mode="r", *a, **k):  # the OS boundary: the write finds no space
        if str(file) == str(path) and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return real_open(file, mode, *a, **k)

    monkeypatch.setattr("builtins.open", full)
    study = optuna.load_study(study_name="s", storage=storage)
    with pytest.raises(UserError, match="no space left on the device") as exc:
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, values=[9.0]))
    assert str(path) in str(exc.value) and "needed" in str(exc.value)


def test_a_full_disk_while_writing_parquet_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import pandas as pd
    import pyarrow.parquet as pq

    from dse import store

    def full(table, where, **kw):  # what pyarrow raises on a full disk
        Path(where).write_bytes(b"PAR1")
        raise OSError("[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left "
                      "on device")

    monkeypatch.setattr(pq, "write_table", full)
    out = tmp_path / "shard-0.parquet"
    with pytest.raises(UserError, match="no space left on the device") as exc:
        store.write_table(pd.DataFrame({"a": range(1000)}), out)
    assert str(out) in str(exc.value) and "MiB needed" in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def _small_filesystem(path: Path, size: str = "1m") -> bool:
    path.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True)
    return proc.returncode == 0


def test_a_real_full_filesystem_gives_one_line_and_a_resumable_journal(tmp_path):
    # a 1 MiB tmpfs: the journal fills it; after space is freed the study opens and resumes
    small = tmp_path / "small"
    if not _small_filesystem(small):
        pytest.skip("this runner cannot mount a tmpfs (the monkeypatched tests above cover it)")
    try:
        code = subprocess.run(
            [sys.executable, "-c", _FILL_JOURNAL, str(small / "study.journal")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert code.returncode == 2, code.stderr[-2000:]
        assert len(code.stderr.splitlines()) == 1 and "no space left" in code.stderr
        (small / "ballast").unlink()  # free space
        again = subprocess.run(
            [sys.executable, "-c", _RESUME_JOURNAL, str(small / "study.journal")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr[-2000:]
        assert int(again.stdout) > 0
    finally:
        subprocess.run(["umount", str(small)], check=False)


_FILL_JOURNAL = """
import sys, optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
from dse.cli import main
from dse.errors import UserError
from dse.search.storage import open_storage
path = sys.argv[1]
open(path.replace("study.journal", "ballast"), "wb").write(b"x" * 900_000)
storage = open_storage(path)
study = optuna.create_study(storage=storage, study_name="s", directions=["minimize"])
try:
    for i in range(100_000):
        study.add_trial(optuna.trial.create_trial(params={"x": float(i)},
            distributions={"x": optuna.distributions.FloatDistribution(0, 1e9)}, values=[i]))
except UserError as exc:
    print(f"dse search: error: {exc}", file=sys.stderr)
    sys.exit(2)
"""

_RESUME_JOURNAL = """
import sys, optuna
from dse.search.storage import open_storage
storage = open_storage(sys.argv[1])
study = optuna.load_study(study_name="s", storage=storage)
n = len(study.trials)
study.add_trial(optuna.trial.create_trial(params={"x": 1.0},
    distributions={"x": optuna.distributions.FloatDistribution(0, 1e9)}, values=[1.0]))
print(n)
"""


# ---- planted links --------------------------------------------------------------------------


def test_a_planted_link_at_the_run_lock_is_replaced_not_written_through(tmp_path):
    from dse import runguard

    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    work = tmp_path / "work"
    (work / ".snakemake").mkdir(parents=True)
    (work / ".snakemake/dse-run.lock").symlink_to(outside)
    fd = runguard.take_run_lock(work / ".snakemake/dse-run.lock", cwd=str(work))
    try:
        assert outside.read_text() == "precious\n"
        assert not (work / ".snakemake/dse-run.lock").is_symlink()
        assert (work / ".snakemake/dse-run.lock").read_text() == f"{os.getpid()}\n"
    finally:
        os.close(fd)
        runguard._HELD.clear()


def test_links_under_results_leading_outside_are_found(tmp_path):
    from dse import runguard

    work, outside = tmp_path / "work", tmp_path / "outside"
    (work / "results/benchmarks").mkdir(parents=True)
    outside.mkdir()
    (work / "results/hls").symlink_to(outside)
    (work / "results/benchmarks/export.tsv").symlink_to(outside / "x.tsv")
    (work / "results/inside").symlink_to(work / "results/benchmarks")  # inside: allowed
    found = sorted(p for p, _ in runguard.outside_links(work / "results", cwd=str(work)))
    assert found == [str(work / "results/benchmarks/export.tsv"), str(work / "results/hls")]
    with pytest.raises(UserError, match="outside the working folder"):
        runguard.refuse_outside_links(work / "results", cwd=str(work))


def test_the_stale_temporary_sweep_removes_a_linked_old_export_and_not_its_target(tmp_path):
    from dse import runguard

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "index.json").write_text("{}")
    results = tmp_path / "results"
    results.mkdir()
    (results / ".hls.abcd1234.old.tmp").symlink_to(outside)  # what a linked results/hls left
    (results / ".x.parquet.k1ll3d.tmp").write_bytes(b"PAR1")
    removed, failed = runguard.remove_stale_temporaries(results)
    assert len(removed) == 2 and failed == []
    assert list(results.iterdir()) == []  # really removed, as reported
    assert (outside / "index.json").read_text() == "{}"


def test_export_over_a_linked_folder_replaces_the_link_and_keeps_its_target(tmp_path):
    from dse.commands.export import _swap_in

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "index.json").write_text("{}")
    out, build = tmp_path / "hls", tmp_path / ".hls.x.tmp"
    out.symlink_to(outside)
    build.mkdir()
    (build / "index.json").write_text('{"designs": []}')
    _swap_in(build, out)
    assert out.is_dir() and not out.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hls", "outside"]  # no .old.tmp left
    assert (outside / "index.json").read_text() == "{}"


def test_loader_refuses_non_regular_files_by_kind(tmp_path):
    from dse import loader

    os.mkfifo(tmp_path / "p")
    for path, kind in ((tmp_path / "p", "FIFO"), (tmp_path, "folder"), ("/dev/zero", "device")):
        with pytest.raises(UserError, match=kind):
            loader.read_bytes(path)
    assert stat.S_ISFIFO(os.stat(tmp_path / "p").st_mode)


@pytest.mark.slow
def test_a_real_run_keeps_the_password_out_of_its_output_and_config_yaml_is_0600(tmp_path):
    # before: the password of `?password=` was printed in full, and results/config.yaml held
    # the plain URL with mode 0644
    from benchmarks.fuzz_snakemake import repo_copy, run_snakemake

    work = repo_copy(tmp_path / "repo")
    config = work / "configs" / "config.yaml"
    edit(config, "storage: results/search/study.journal",
         "storage: postgresql://dse:pw0rd@db.invalid:5432/dse?sslpassword=k3yp4ss")
    code, err = run_snakemake(work, "--cores", "1", "results/roofline/kernels.parquet",
                              timeout=300)
    assert code == 0, err[-2000:]
    merged = work / "results" / "config.yaml"
    assert stat.S_IMODE(merged.stat().st_mode) == 0o600
    shown = err + "".join(p.read_text() for p in (work / ".snakemake" / "log").glob("*.log"))
    shown += "".join(p.read_text() for p in (work / "results" / "logs").rglob("*.log"))
    assert "pw0rd" not in shown and "k3yp4ss" not in shown
