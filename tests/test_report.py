import json
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.driver import run_suite
from benchmarks.spec import validate_record
from benchmarks.suite import parse_suite
from reports.frame import CSV_COLUMNS
from reports.generate import write_report

REPO = Path(__file__).resolve().parents[1]
ISSUE_COLUMNS = ["suite", "dataset", "method", "ipc", "model", "optimizer", "loss", "seed", "status", "test_acc",
                 "val_acc", "wall_s", "flops", "peak_mem_bytes"]


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory, cpu):
    d = tmp_path_factory.mktemp("records")
    suite = parse_suite({"name": "mini", "grid": {"datasets": ["digits"], "methods": ["random", "full"], "ipc": [1],
                                                   "models": ["lenet", "convnet3_w32"], "optimizers": ["adam"],
                                                   "seeds": [0, 1]}, "eval": {"steps": 10, "batch_size": 10}})
    run_suite(suite, d, cpu, progress=False)
    return d


def test_same_records_give_byte_identical_report(records_dir, tmp_path):
    a = write_report("mini", records_dir, tmp_path / "a")
    b = write_report("mini", records_dir, tmp_path / "b")
    assert [p.name for p in a] == [p.name for p in b]
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


def test_report_contents(records_dir, tmp_path):
    files = write_report("mini", records_dir, tmp_path)
    assert {p.name for p in files} == {"leaderboard.md", "results.csv", "fig_accuracy_digits.png"}
    df = pd.read_csv(tmp_path / "results.csv")
    assert list(df.columns) == CSV_COLUMNS and set(ISSUE_COLUMNS) <= set(df.columns)
    assert len(df) == 8 and set(df.method) == {"random", "full"}
    md = (tmp_path / "leaderboard.md").read_text()
    assert "(n=" in md or "(2)" in md
    assert "Provenance" in md and "suite hash" in md


def test_committed_records_are_valid():
    files = sorted((REPO / "reports").glob("*/records/*.json"))
    for f in files:
        assert validate_record(json.loads(f.read_text())) == [], f


def test_varied_axes_and_committed_artifacts_get_their_figures(tmp_path, cpu, digits):
    from benchmarks.methods import Budget, run_method

    records = tmp_path / "suite" / "records"
    suite = parse_suite({"name": "flex", "grid": {"datasets": ["digits"], "methods": ["random"], "ipc": [1],
                                                   "models": ["lenet"], "optimizers": ["adam", "sgd"],
                                                   "seeds": [0], "eval_seeds": [0, 1]},
                         "sweep": {"steps_offset": [0, 5]}, "eval": {"steps": 5, "batch_size": 10}})
    run_suite(suite, records, cpu, progress=False)
    ds = run_method("ld", digits, Budget(1), 0, cpu, {"iterations": 2, "outer_batch": 32, "select_every": 2,
                                                       "val_size": 50})
    ds.save(tmp_path / "suite" / "artifacts")
    names = {p.name for p in write_report("flex", records, tmp_path / "out")}
    assert {"fig_by_optimizer_digits.png", "fig_steps_offset_digits.png", "fig_labels_ld_ipc1_seed0.png"} <= names
    df = pd.read_csv(tmp_path / "out" / "results.csv")
    assert len(df) == 8 and set(df.steps_offset) == {0, 5} and set(df.distill_seed) == {0}
    assert "fig_labels_ld_ipc1_seed0.png" in (tmp_path / "out" / "leaderboard.md").read_text()


def test_records_of_cells_an_edited_suite_dropped_are_left_out(records_dir, tmp_path):
    edited = parse_suite({"name": "mini", "grid": {"datasets": ["digits"], "methods": ["random", "full"], "ipc": [1],
                                                    "models": ["lenet"], "optimizers": ["adam"], "seeds": [0, 1]},
                          "eval": {"steps": 10, "batch_size": 10}})
    write_report("mini", records_dir, tmp_path, [c.config for c in edited.cells()])
    df = pd.read_csv(tmp_path / "results.csv")
    assert len(df) == 4 and set(df.model) == {"lenet"}
    assert "4 stored record(s)" in (tmp_path / "leaderboard.md").read_text()
    assert len(list(records_dir.glob("*.json"))) == 8  # nothing deleted


def test_published_numbers_appear_beside_ours(records_dir, tmp_path):
    pub = [{"dataset": "digits", "method": "random", "ipc": 1, "acc": 64.9, "std": 3.5, "ref": "P", "source": "Paper P"}]
    write_report("mini", records_dir, tmp_path, published=pub)
    md = (tmp_path / "leaderboard.md").read_text()
    assert "| published" in md and "64.9 ± 3.5 [P]" in md and "[P] Paper P" in md


def test_a_published_row_naming_a_protocol_sits_beside_that_protocols_line_only():
    from reports.generate import _published_cell

    pub = [{"dataset": "mnist", "method": "random", "ipc": 1, "acc": 64.9, "std": 3.5, "ref": "DC", "source": "s",
            "protocol": "dc"},
           {"dataset": "mnist", "method": "random", "ipc": 10, "acc": 95.1, "ref": "DC", "source": "s"}]
    assert _published_cell(pub, "mnist", "random", 1, "dc") == "64.9 ± 3.5 [DC]"
    assert _published_cell(pub, "mnist", "random", 1, "dsa") == ""
    assert _published_cell(pub, "mnist", "random", 10, "dsa") == "95.1 [DC]"  # no protocol named: every line


def test_budget_axis_gives_a_cost_curve_and_many_models_a_heatmap(tmp_path, cpu, monkeypatch):
    monkeypatch.setenv("DDBENCH_CACHE", str(tmp_path / "cache"))
    records = tmp_path / "records"
    suite = parse_suite({"name": "curve", "grid": {"datasets": ["digits"], "methods": ["dm", "random"], "ipc": [1],
                                                    "models": ["lenet", "convnet3_w32", "test_resnet"],
                                                    "optimizers": ["adam"], "iterations": [1, 3]},
                         "methods": {"dm": {"model": "convnet3_w32", "batch_real": 8}},
                         "eval": {"steps": 3, "batch_size": 10}})
    run_suite(suite, records, cpu, progress=False)
    names = {p.name for p in write_report("curve", records, tmp_path / "out")}
    assert {"fig_budget_digits.png", "fig_heatmap_model_digits.png"} <= names
    df = pd.read_csv(tmp_path / "out" / "results.csv")
    assert set(df[df.method == "dm"].iterations) == {1, 3}
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    table = md.split("### By method and distillation budget")[1].split("###")[0]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines() if line.startswith("| dm ")]
    assert sorted(r[2] for r in rows) == ["1", "3"], table  # one row per budget, not an average over budgets


def test_runs_of_one_auto_precision_cell_on_two_machines_share_a_row(records_dir, tmp_path):
    from benchmarks.store import Store

    mixed = tmp_path / "records"
    mixed.mkdir()
    for r in Store(records_dir).records():  # half the seeds "ran" where auto meant bf16
        if r["config"]["eval"]["seed"] == 1:
            r["execution"]["precision"] = "bf16"
        Store(mixed).put(r)
    write_report("mini", mixed, tmp_path / "out")
    md = (tmp_path / "out" / "leaderboard.md").read_text()
    pivot = md.split("### By method x model")[1]
    rows = [line for line in pivot.splitlines() if line.startswith("| random ") and "lenet" in line]
    assert len(rows) == 1 and "bf16/fp32" in rows[0] and "(2)" in rows[0]


def test_cost_section_sums_hours_and_energy_and_says_what_was_not_measured():
    from reports.sections import cost_section

    def rec(method, seed, hours, energy):
        cost = {"wall_s": 10.0 + seed, "distill_wall_s": 5.0, "peak_mem_bytes": 2**30, "label_bytes": 80,
                "energy_j": energy}
        if hours is not None:
            cost["cpu_hours"] = hours
        return {"status": "ok", "config": {"dataset": "digits", "method": method, "ipc": 1},
                "artifact": {"hash": f"{method}{seed}"}, "cost": cost}

    records = [rec("random", 0, 0.5, 100.0), rec("random", 1, 0.25, "not measured"), rec("dm", 0, None, "not measured")]
    table = "\n".join(cost_section(records, "digits"))
    (random_row,) = [line for line in table.splitlines() if line.startswith("| random")]
    assert "0.7500 CPU-h" in random_row and "100 J (1 not measured)" in random_row and "10.5" in random_row
    (dm_row,) = [line for line in table.splitlines() if line.startswith("| dm")]
    assert "not recorded" in dm_row and "not measured" in dm_row
    assert cost_section(records, "mnist") == []


def test_teachers_section_names_each_teacher_once_and_counts_unrecorded_cells():
    from reports.sections import teachers_section

    weak = {"key": "w", "model": "convnet3_w32", "epochs": 1, "val_acc": 98.25}
    strong = {"key": "s", "model": "convnet3_w32", "epochs": 15, "patience": 2, "val_acc": 99.5}

    def rec(method, teacher, dataset="digits"):
        artifact = {"hash": "h", **({"teacher": teacher} if teacher else {})}
        return {"status": "ok", "config": {"dataset": dataset, "method": method, "params": {"teacher_model": "m"}},
                "artifact": artifact}

    records = [rec("rded", weak), rec("soft_random", weak), rec("rded", strong), rec("rded", None),
               {"status": "ok", "config": {"dataset": "digits", "method": "random", "params": {}}, "artifact": {}}]
    lines = "\n".join(teachers_section(records, "digits")).splitlines()
    table = [line for line in lines if line.startswith("| convnet3_w32")]
    assert len(table) == 2
    assert "98.25" in table[0] and "fixed epochs" in table[0] and "rded, soft_random" in table[0] and table[0].endswith("| 2       |")
    assert "99.50" in table[1] and "patience 2" in table[1] and "| 15 " in table[1]
    assert lines[-1] == "Not recorded (records made before teachers were): rded (1 cells)."
    assert teachers_section(records, "mnist") == []


def test_tuning_section_lists_every_lr_tried_once_per_search_with_the_choice_marked():
    from reports.sections import tuning_section
    from tests.synthetic_records import record

    def tuned(method, model, seed, key, val_acc, lr, ipc=10, steps=300):
        r = record(method, 90.0, dataset="mnist", model=model, optimizer="momentum", seed=seed, ipc=ipc, steps=steps,
                   lr=lr, lr_per_architecture=True)
        r["metrics"]["lr_tuning"] = {"key": key, "grid": [0.003, 0.01, 0.03], "ipc": ipc, "lr": lr,
                                     "reference": "random seed 0", "val_acc": val_acc}
        return r

    lenet = {"0.003": 9.95, "0.01": 19.25, "0.03": 79.0, "0.09": 87.15, "0.27": 81.7}
    vit = {"0.0009": 15.7, "0.00027": 11.4, "0.003": 14.7, "0.01": 12.1, "0.03": 12.4}
    records = [tuned("random", "lenet", 0, "a", lenet, 0.09), tuned("dd", "lenet", 1, "a", lenet, 0.09),
               tuned("random", "vit_tiny", 0, "b", vit, 0.0009, steps=100),
               record("random", 50.0, dataset="mnist", model="convnet3")]  # a fixed-lr record: not a search
    lines = "\n".join(tuning_section(records, "mnist")).splitlines()
    rows = [line for line in lines if line.startswith(("| lenet", "| vit_tiny"))]
    assert len(rows) == 2
    assert "| 300 " in rows[0] and "0.003: 9.95, 0.01: 19.25, 0.03: 79.00, **0.09: 87.15**, 0.27: 81.70" in rows[0]
    assert rows[0].rstrip(" |").endswith("2")  # two cells used that one search
    assert "| 100 " in rows[1] and "0.00027: 11.40, **0.0009: 15.70**, 0.003: 14.70" in rows[1]
    assert tuning_section(records, "digits") == [] and tuning_section(records[3:], "mnist") == []


def test_tuning_section_adds_the_training_lengths_tried_where_a_search_chose_one():
    from reports.sections import tuning_section
    from tests.synthetic_records import record

    def tuned(model, key, length):
        r = record("random", 90.0, dataset="mnist", model=model, optimizer="momentum", lr=0.09, lr_per_architecture=True)
        r["metrics"]["lr_tuning"] = {"key": key, "grid": [0.003, 0.01, 0.03], "ipc": 10, "lr": 0.09,
                                     "reference": "random seed 0", "val_acc": {"0.09": 60.0}}
        if length:
            r["metrics"]["steps_tuning"] = {"key": key + "s", "lr": 0.09, "steps": 600, "max_steps": 1800,
                                            "val_acc": {"200": 60.0, "600": 85.5, "1800": 85.9}}
        return r

    lines = "\n".join(tuning_section([tuned("mobilenetv3_small_050", "m", True), tuned("lenet", "l", False)],
                                     "mnist")).splitlines()
    assert "lr and training length" in lines[0]
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith(("| mobilenet", "| lenet"))}
    assert "200: 60.00, **600: 85.50**, 1800: 85.90 (cap 1800)" in rows["mobilenetv3_small_050"]
    assert "(cap" not in rows["lenet"] and len(rows["lenet"].split("|")) == len(rows["mobilenetv3_small_050"].split("|"))
    only_lr = tuning_section([tuned("lenet", "l", False)], "mnist")
    assert "training length" not in "\n".join(only_lr) and "Searching took" not in "\n".join(only_lr)
    timed = [tuned("lenet", "l", False), tuned("lenet", "l", False), tuned("lenet", "l", False)]
    timed[0]["cost"]["tuning_s"], timed[1]["cost"]["tuning_s"] = 5400.0, 1800.0
    assert tuning_section(timed, "mnist")[-1] == ("Searching took 2.00 h of the runs' wall time (running a search, or "
                                                  "waiting for another run's; `cost.tuning_s` over 2 records, 1 made "
                                                  "before it was recorded).")


def test_tuning_section_shows_records_of_one_search_that_disagree_apart():
    from reports.sections import tuning_section
    from tests.synthetic_records import record

    def tuned(seed, lr, acc):
        r = record("random", 90.0, dataset="mnist", model="lenet", optimizer="momentum", seed=seed, lr=lr,
                   lr_per_architecture=True)
        r["metrics"]["lr_tuning"] = {"key": "same", "grid": [0.003, 0.01, 0.03], "ipc": 10, "lr": lr,
                                     "reference": "random seed 0", "val_acc": {"0.01": acc, "0.03": 100 - acc}}
        return r

    section = "\n".join(tuning_section([tuned(0, 0.03, 40.0), tuned(1, 0.01, 60.0), tuned(2, 0.03, 40.0)], "mnist"))
    rows = [line for line in section.splitlines() if line.startswith("| lenet")]
    assert len(rows) == 2  # a cache on another machine chose otherwise: both choices show, with their cells
    assert sorted(r.rstrip(" |").split("|")[-1].strip() for r in rows) == ["1", "2"]


def test_summary_says_how_many_models_each_row_covers_when_rows_cover_different_ones(records_dir, tmp_path):
    from benchmarks.store import Store

    def by_method(md: str) -> str:
        return md.split("### By method")[1].split("###")[0]

    write_report("mini", records_dir, tmp_path / "whole")
    assert "models |" not in by_method((tmp_path / "whole" / "leaderboard.md").read_text())
    partial = tmp_path / "records"
    partial.mkdir()
    for r in Store(records_dir).records():  # full's lenet cells not run yet
        if not (r["config"]["method"] == "full" and r["config"]["eval"]["model"] == "lenet"):
            Store(partial).put(r)
    write_report("mini", partial, tmp_path / "partial")
    table = by_method((tmp_path / "partial" / "leaderboard.md").read_text())
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines()
            if line.startswith("| random ") or line.startswith("| full ")}
    assert "models |" in table and rows["random"][-1] == "2" and rows["full"][-1] == "1", table
