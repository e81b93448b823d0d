"""What the suite files say is what their committed records show: every record is a cell of the suite as
declared now (so each [eval] and [methods] setting holds), and each claim a suite's comments make about how it
evaluates is checked against the records in a table below (a new claim in a comment gets a row here)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks.optim import OPTIMIZERS
from benchmarks.suite import load_suite, packaged_suites

REPORTS = Path(__file__).resolve().parents[1] / "reports"
Record = dict[str, Any]


def committed(suite: str) -> list[Record]:
    return [json.loads(p.read_text()) for p in sorted((REPORTS / suite / "records").glob("*.json"))]


def with_records() -> list[str]:
    return [s for s in sorted(packaged_suites()) if (REPORTS / s / "records").is_dir() and committed(s)]


@pytest.mark.parametrize("suite", with_records())
def test_every_committed_record_is_a_cell_of_the_suite_as_declared(suite: str) -> None:
    keys = {c.key for c in load_suite(suite).cells()}
    stale = [r["config"]["method"] for r in committed(suite) if r["key"] not in keys]
    assert not stale, f"{suite}: {len(stale)} records were run under other settings than the file declares"


def ok(records: list[Record]) -> list[Record]:
    return [r for r in records if r["status"] == "ok"]


def fixed_lr(lr: float) -> Callable[[list[Record]], bool]:
    """Every run trained at ``lr``, with momentum SGD, and none took its lr from the artifact."""
    return lambda rs: all(r["metrics"]["lr"] == lr and r["config"]["eval"]["optimizer"] == "momentum"
                          and not r["config"]["eval"].get("lr_from_artifact") for r in ok(rs))


def teacher(model: str, epochs: int) -> Callable[[list[Record]], bool]:
    """Every teacher-labelled set names this teacher in its distillation parameters."""
    return lambda rs: all(r["config"]["params"].get("teacher_model", "convnet3") == model
                          and r["config"]["params"]["teacher_epochs"] == epochs
                          for r in rs if r["config"]["method"] in ("soft_random", "rded"))


def plateau_teacher(model: str = "convnet3") -> Callable[[list[Record]], bool]:
    """Every teacher-labelled set's teacher is ``model`` trained to its validation plateau (as its record says)."""
    def check(rs: list[Record]) -> bool:
        soft = [r for r in rs if r["config"]["method"] in ("soft_random", "rded")]
        return bool(soft) and all(r["config"]["params"]["teacher_epochs"] == 0 and r["config"]["params"]["teacher_model"]
                                  == model and r["artifact"]["teacher"].get("patience") for r in ok(soft))
    return check


def kl_with_and_without_t2(rs: list[Record]) -> bool:
    """soft_random and rded each have KL (T = 4) records with and without the T^2 factor."""
    seen: dict[str, set[bool]] = {}
    for r in ok(rs):
        loss = r["config"]["eval"]["loss"]
        if r["config"]["method"] in ("soft_random", "rded") and loss["name"] == "kl" and loss["params"]["T"] == 4.0:
            seen.setdefault(r["config"]["method"], set()).add(bool(loss["params"]["t2"]))
    return seen == {"soft_random": {False, True}, "rded": {False, True}}


def one_lr_per_architecture(rs: list[Record]) -> bool:
    chosen: dict[tuple, set[float]] = {}
    for r in ok(rs):
        e = r["config"]["eval"]
        if not e["lr_per_architecture"] or r["metrics"]["lr"] != r["metrics"]["lr_tuning"]["lr"]:
            return False
        chosen.setdefault((e["model"], e["optimizer"], r["config"]["ipc"]), set()).add(r["metrics"]["lr"])
    return bool(chosen) and all(len(v) == 1 for v in chosen.values())


def evals(steps: int, batch: int, augment: str) -> Callable[[list[Record]], bool]:
    return lambda rs: all(r["config"]["eval"]["steps"] == steps and r["config"]["eval"]["batch_size"] == batch
                          and r["config"]["eval"]["augment"] == augment for r in rs)


def registered_default_lr(rs: list[Record]) -> bool:
    return all(r["metrics"]["lr"] == OPTIMIZERS.get(r["config"]["eval"]["optimizer"]).lr for r in ok(rs))


def times_per_artifact(n: int) -> Callable[[list[Record]], bool]:
    return lambda rs: set(Counter(r["artifact"]["hash"] for r in ok(rs)).values()) == {n}


def distil_width(rs: list[Record]) -> bool:
    keys = {"ld": "learner", "ld_rr": "learner"}
    return all(r["config"]["params"][keys.get(r["config"]["method"], "model")] == "convnet3_w32" for r in rs)


def only_base_differs(others: list[str], seed: int) -> Callable[[list[Record]], bool]:
    """The suite's records of distillation ``seed`` are the cells that ``others`` ran of the same methods and ipc,
    one for one, but for the base selection: the same parameters (``base`` aside) and evaluation."""
    def cell(r: Record) -> str:
        params = {k: v for k, v in r["config"]["params"].items() if k != "base"}
        return json.dumps({**r["config"], "params": params}, sort_keys=True)

    def check(rs: list[Record]) -> bool:
        mine = [cell(r) for r in rs if r["config"]["seed"] == seed]
        wanted = {(r["config"]["method"], r["config"]["ipc"]) for r in rs}
        theirs = {cell(r) for o in others for r in committed(o) if (r["config"]["method"], r["config"]["ipc"]) in wanted}
        return bool(mine) and len(set(mine)) == len(mine) and set(mine) == theirs
    return check


# (suite, the claim as its comments word it, a check over its committed records)
CLAIMS: list[tuple[str, str, Callable[[list[Record]], bool]]] = [
    ("baselines-mnist", "every method, mtt included, is evaluated with the suite's fixed lr (SGD-momentum 0.01)",
     fixed_lr(0.01)),
    ("baselines-cross-arch", "SGD momentum 0.9 at lr 0.01, fixed as in the papers", fixed_lr(0.01)),
    ("cross-optimizer", "200 steps, each optimizer's registered default lr",
     lambda rs: evals(200, 50, "dsa")(rs) and registered_default_lr(rs)),
    ("cross-optimizer", "teacher: ConvNet-3 (width 32) trained 1 epoch", teacher("convnet3_w32", 1)),
    ("loss-study", "teacher: ConvNet-3 (width 32) trained 1 epoch", teacher("convnet3_w32", 1)),
    ("loss-study", "GIFT's evaluator: AdamW 1e-3, wd 1e-4",
     lambda rs: all(r["metrics"]["lr"] == 1e-3 and r["config"]["eval"]["optimizer"] == "adamw"
                    and r["config"]["eval"]["weight_decay"] == 1e-4 for r in ok(rs))),
    ("loss-study", "three evaluation seeds per artifact and loss",
     lambda rs: set(Counter((r["artifact"]["hash"], json.dumps(r["config"]["eval"]["loss"], sort_keys=True))
                            for r in ok(rs)).values()) == {3}),
    ("quick", "the methods' default teacher, a ConvNet-3 trained to its validation plateau", plateau_teacher()),
    ("loss-study-strong", "the same ConvNet-3 (width 32) trained to its validation plateau",
     plateau_teacher("convnet3_w32")),
    ("loss-study-strong", "everything is loss-study's: AdamW 1e-3, wd 1e-4, 200 steps, batch 50, DSA, 3 evaluation seeds",
     lambda rs: all(r["metrics"]["lr"] == 1e-3 and r["config"]["eval"]["optimizer"] == "adamw"
                    and r["config"]["eval"]["weight_decay"] == 1e-4 for r in ok(rs)) and evals(200, 50, "dsa")(rs)
     and set(Counter((r["artifact"]["hash"], json.dumps(r["config"]["eval"]["loss"], sort_keys=True))
                     for r in ok(rs)).values()) == {3}),
    ("quick", "every model trains 80 steps (batch 64), LeNet 300",
     lambda rs: evals(80, 64, "none")([r for r in rs if r["config"]["eval"]["model"] != "lenet"])
     and evals(300, 64, "none")([r for r in rs if r["config"]["eval"]["model"] == "lenet"])),
    ("quick", "the fair protocol: one lr per (architecture, optimizer, ipc), chosen on validation, for every set "
              "and loss", one_lr_per_architecture),
    ("ld-paper-mnist", "one artifact per method, budget and seed, trained 20 times", times_per_artifact(20)),
    ("ld-base-mnist", "seed 0's rows differ from ld-warm-mnist's and ld-paper-mnist's in the base images only",
     only_base_differs(["ld-warm-mnist", "ld-paper-mnist"], 0)),
    ("ld-base-budget-mnist", "everything else as ld-paper-budget-fresh-mnist's ld_warm row",
     only_base_differs(["ld-paper-budget-fresh-mnist"], 0)),
    ("budget-curve", "50 / 200 / 800 iterations",
     lambda rs: {r["config"]["iterations"] for r in rs} == {50, 200, 800}),
    ("budget-curve", "every method distils with ConvNet-3 at width 32 (LD's learner included)", distil_width),
    ("robustness-mnist", "baselines-mnist's protocol: SGD-momentum 0.01, 500 steps, batch 256, DSA",
     lambda rs: fixed_lr(0.01)(rs) and evals(500, 256, "dsa")(rs)),
    ("robustness-mnist", "teacher: ConvNet-3 width 32, 1 epoch", teacher("convnet3_w32", 1)),
    ("robustness-mnist", "KL at T = 4 is evaluated twice for soft_random and rded: no T^2, and T^2",
     kl_with_and_without_t2),
    ("cross-arch-fair", "KL (T = 4) carries Hinton's T^2 factor here",
     lambda rs: all(r["config"]["eval"]["loss"]["params"].get("t2") for r in rs
                    if r["config"]["eval"]["loss"]["name"] == "kl")),
    ("robustness-fashion-mnist", "KL at T = 4 is evaluated twice for soft_random and rded: no T^2, and T^2",
     kl_with_and_without_t2),
    ("robustness-fashion-mnist", "SGD-momentum 0.01, 500 steps, batch 256, DSA",
     lambda rs: fixed_lr(0.01)(rs) and evals(500, 256, "dsa")(rs)),
]


@pytest.mark.parametrize(("suite", "claim", "check"), CLAIMS, ids=[f"{s}: {c[:40]}" for s, c, _ in CLAIMS])
def test_a_suite_comment_is_true_of_its_records(suite: str, claim: str, check: Callable[[list[Record]], bool]) -> None:
    records = committed(suite) if (REPORTS / suite / "records").is_dir() else []
    if not records:
        pytest.skip(f"{suite} has no committed records yet")
    assert check(records), f"{suite} says {claim!r}, which its records do not bear out"


def test_the_checks_can_fail() -> None:
    wrong = [{"status": "ok", "metrics": {"lr": 0.02}, "config": {"method": "mtt", "params": {},
                                                               "eval": {"optimizer": "momentum", "lr_from_artifact": True}}}]
    assert not fixed_lr(0.01)(wrong)
    assert not teacher("convnet3_w32", 1)([{"config": {"method": "rded", "params": {"teacher_epochs": 2}}}])
    warm = [r for r in committed("ld-warm-mnist") if r["config"]["method"] == "ld_warm"]
    moved = [{**r, "config": {**r["config"], "params": {**r["config"]["params"], "iterations": 1}}} for r in warm]
    assert only_base_differs(["ld-warm-mnist"], 0)(warm) and not only_base_differs(["ld-warm-mnist"], 0)(moved)
