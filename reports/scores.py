"""The field's relative scores (DD-Ranking's HLR, IOR, LRS and ARS), on fractions, from one suite's rows.

For a distilled set S at some ipc, with every accuracy a fraction in [0, 1] and a mean over its repeats:

- HLR = acc(full real data) - acc(S with hard labels)            (hard-label recovery: lower is better)
- IOR = acc(S) - acc(random real subset at the same ipc)         (improvement over random: higher is better)
- LRS = (e^a - e^-1) / (e - e^-1), a = w IOR - (1 - w) HLR, w = 0.5 (label-robust score, in [0, 1])
- ARS, where the suite has an augmentation axis with "none": for an augmented row (augmentation A),
  b = w (acc(S, A) - acc(random, A)) + (1 - w) (acc(S, none) - acc(random, none)) and
  ARS = (e^b - e^-1) / (e - e^-1), as DD-Ranking's augmentation-robust score (its ``ars_lambda`` = w).

Unlike DD-Ranking 0.2.0 the accuracies are fractions (it exponentiates percentage points, which leaves
[0, 1]), nothing is selected on the test set, and a score is the score of the mean accuracies (DD-Ranking
averages per-run scores; our references are separate cells, not paired runs).

Reference rows come from the same suite and dataset and the same evaluation protocol
(``reports.cells.PROTOCOL``: model, optimizer, base lr and lr grid, steps, offset, batch size, schedule,
augmentation, weight decay, validation size, steps/lr from the artifact); any difference refuses the row
and the output names the missing reference and the nearest refused one. References are trained on hard
labels with a hard-label loss (``HARD_LABEL_LOSSES['hard']``); a reference method whose labels are not hard
(e.g. ``soft_random`` passed as ``random_method``) must use the scored row's own loss, as DD-Ranking's
same-recipe random baseline.

Which rows are "S with hard labels" (``HARD_LABEL_LOSSES``, by the artifact's label kind):
- hard labels: the set's own rows under ``ce`` (no smoothing) or ``soft_ce`` (equal on one-hot targets);
- online labels (RDED): rows under ``ce`` without smoothing, which trains on the artifact's class ids and
  never calls the teacher;
- static soft labels (soft_random, ld, ...): rows under ``ce`` without smoothing, which trains on the argmax
  of each stored distribution (for learned labels this may differ from the class the image was drawn for).
A suite gets HLR for a soft-label method by adding ``ce`` to its losses axis; otherwise HLR and LRS are
reported missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd
from tabulate import tabulate

from benchmarks.registry import Registry
from reports.cells import PROTOCOL, ok_rows, spell

WEIGHT = 0.5
NOTE_SEP = "; "  # joins a row's missing-reference notes in its "missing" field; never used inside a note
CE = "ce(label_smoothing=0.0)"
HARD_LABEL_LOSSES: Registry[frozenset[str]] = Registry("label kind")
HARD_LABEL_LOSSES.register("hard", frozenset({CE, "soft_ce"}))
HARD_LABEL_LOSSES.register("online", frozenset({CE}))
HARD_LABEL_LOSSES.register("soft", frozenset({CE}))

BUDGET = ["iterations", "seconds"]  # distillation budgets: a scored row's hard-label twin must share them
SCORE_KEYS = ["suite", "dataset", "method", "ipc", "loss", "label_kind", *PROTOCOL, *BUDGET]
SCORES = ["hlr", "ior", "lrs", "ars"]


def is_hard_label(label_kind: str, loss: str) -> bool:
    """Does a row of an artifact with ``label_kind`` labels, trained with ``loss`` (a loss label), train on hard labels?"""
    return label_kind in HARD_LABEL_LOSSES and loss in HARD_LABEL_LOSSES.get(label_kind)


def squash(alpha: float) -> float:
    """DD-Ranking's map of a weighted accuracy gain in [-1, 1] (fractions) onto [0, 1]."""
    return (math.exp(alpha) - math.exp(-1)) / (math.e - math.exp(-1))


def lrs(ior: float, hlr: float, weight: float = WEIGHT) -> float:
    """Label-robust score from IOR and HLR (fractions)."""
    return squash(weight * ior - (1 - weight) * hlr)


def ars(gain_aug: float, gain_plain: float, weight: float = WEIGHT) -> float:
    """Augmentation-robust score from the gains over random with and without the augmentation (fractions)."""
    return squash(weight * gain_aug + (1 - weight) * gain_plain)


Row = dict[str, Any]
Pool = dict[tuple[str, str, str], list[Row]]  # (suite, dataset, method) -> its rows, each with key parts


def keyed(row: Row) -> Row:
    """A row with its ipc, protocol and budget spelt as key parts (computed once per row)."""
    return {**row, "_ipc": spell(row["ipc"]), "_proto": tuple(spell(row[c]) for c in PROTOCOL),
            "_budget": tuple(spell(row[c]) for c in BUDGET)}


def make_pool(rows: pd.DataFrame) -> Pool:
    """Index finished rows (with ``acc`` as a fraction) by suite, dataset and method for reference lookups."""
    pool: Pool = {}
    for r in rows.to_dict("records"):
        pool.setdefault((r["suite"], r["dataset"], r["method"]), []).append(keyed(r))
    return pool


def find_reference(pool: Pool, target: Row, method: str, ipc: object, loss_ok: Callable[[Row], bool],
                   what: str) -> tuple[float | None, int, str | None]:
    """Mean accuracy (fraction) and n of ``method``'s rows (at ``ipc`` unless None) with ``target``'s suite,
    dataset and protocol and a loss ``loss_ok`` accepts; or None, 0 and a note saying what is missing
    (for a protocol mismatch, the fields in which the nearest refused row differs)."""
    same = [r for r in pool.get((target["suite"], target["dataset"], method), [])
            if ipc is None or r["_ipc"] == spell(ipc)]
    where = f"`{method}`" + (f" at ipc {ipc}" if ipc is not None else "")
    if not same:
        return None, 0, f"{what}: no {where} rows in this suite"
    usable = [r for r in same if loss_ok(r)]
    if not usable:
        losses = ", ".join(sorted({str(r["loss"]) for r in same}))
        return None, 0, f"{what}: {where} rows use only loss {losses}, which does not qualify"
    match = [r["acc"] for r in usable if r["_proto"] == target["_proto"]]
    if not match:
        gaps = [[f"{c} {x} (this row: {y})" for c, x, y in zip(PROTOCOL, r["_proto"], target["_proto"], strict=True)
                 if x != y] for r in usable]
        nearest = min(gaps, key=len)
        return None, 0, f"{what}: no {where} row under this protocol (nearest differs in {', '.join(nearest)})"
    return float(sum(match) / len(match)), len(match), None


def hard_loss(ref: Row) -> bool:
    return is_hard_label(str(ref["label_kind"]), str(ref["loss"]))


def _reference_loss(target: Row) -> Callable[[Row], bool]:
    """Hard-labelled references train with a hard-label loss; others with the scored row's own loss."""
    return lambda ref: hard_loss(ref) if ref["label_kind"] == "hard" else ref["loss"] == target["loss"]


def _hard_twin(pool: Pool, target: Row) -> tuple[float | None, int, str | None]:
    """The scored set's own hard-label evaluation: same method, ipc, budget and protocol, a hard-label loss."""
    if hard_loss(target):
        return float(target["acc"]), int(target["n"]), None
    key = (target["suite"], target["dataset"], target["method"])
    budget = {key: [r for r in pool.get(key, []) if r["_budget"] == target["_budget"]]}
    kind = str(target["label_kind"])
    allowed = " or ".join(sorted(HARD_LABEL_LOSSES.get(kind))) if kind in HARD_LABEL_LOSSES else "none"
    return find_reference(budget, target, str(target["method"]), target["ipc"], hard_loss,
                          f"HLR needs {target['method']} with hard labels (loss {allowed})")


def _without_augment(row: Row) -> Row:
    return keyed({**row, "augment": "none"})


def _ars(pool: Pool, plain_sets: dict[tuple[str, ...], Row], target: Row, random_method: str,
         weight: float) -> tuple[float | None, str | None]:
    """ARS of an augmented row: its twin without augmentation and the random references with and without."""
    plain = _without_augment(target)
    twin = plain_sets.get(_set_key(plain))
    if twin is None:
        return None, "ARS: no row of this set without augmentation under this protocol"
    loss_ok = _reference_loss(target)
    r_aug, _, n1 = find_reference(pool, target, random_method, target["ipc"], loss_ok,
                                  f"ARS (augment {target['augment']})")
    r_plain, _, n2 = find_reference(pool, plain, random_method, target["ipc"], loss_ok, "ARS (augment none)")
    if r_aug is None or r_plain is None:
        return None, n1 or n2
    return ars(float(target["acc"]) - r_aug, float(twin["acc"]) - r_plain, weight), None


def _set_key(row: Row) -> tuple[str, ...]:
    return tuple(spell(row[c]) for c in SCORE_KEYS)


def relative_scores(df: pd.DataFrame, random_method: str = "random", full_method: str = "full",
                    weight: float = WEIGHT) -> pd.DataFrame:
    """One row per scored set and protocol (mean over repeats) of a ``reports.cells.cell_frame``: acc, the
    reference accuracies, HLR, IOR, LRS and ARS (fractions; NaN where a reference is missing) and
    ``missing``, a note naming each missing reference."""
    rows = ok_rows(df).assign(acc=lambda d: d["test_acc"].astype(float) / 100.0)
    pool = make_pool(rows)
    means = rows.groupby(SCORE_KEYS, dropna=False, sort=True).agg(acc=("acc", "mean"), n=("acc", "size")).reset_index()
    sets = [keyed(m) for m in means.to_dict("records")]
    plain_sets = {_set_key(m): m for m in sets if m["augment"] == "none"}
    augments: dict[tuple[str, str], set[str]] = {}
    for r in rows[["suite", "dataset", "augment"]].itertuples(index=False):
        augments.setdefault((r.suite, r.dataset), set()).add(r.augment)
    out = []
    for t in sets:
        if t["method"] == full_method:
            continue
        full, _, n_full = find_reference(pool, t, full_method, None, hard_loss, "HLR needs the full-data row")
        rand, _, n_rand = find_reference(pool, t, random_method, t["ipc"], _reference_loss(t),
                                         f"IOR needs `{random_method}` at the same ipc")
        hard, _, n_hard = _hard_twin(pool, t)
        hlr = None if full is None or hard is None else full - hard
        ior = None if rand is None else float(t["acc"]) - rand
        notes = [n for n in (n_full, n_hard, n_rand) if n]
        ars_value = None
        axis = augments[(t["suite"], t["dataset"])]
        if len(axis) > 1 and "none" in axis and t["augment"] != "none":
            ars_value, note = _ars(pool, plain_sets, t, random_method, weight)
            notes += [note] if note else []
        out.append({**{k: v for k, v in t.items() if not k.startswith("_")}, "full_acc": full, "random_acc": rand,
                    "hard_acc": hard, "hlr": hlr, "ior": ior,
                    "lrs": None if hlr is None or ior is None else lrs(ior, hlr, weight), "ars": ars_value,
                    "missing": NOTE_SEP.join(notes)})
    cols = [*SCORE_KEYS, "n", "acc", "full_acc", "random_acc", "hard_acc", *SCORES, "missing"]
    return pd.DataFrame(out, columns=cols)


def summarise_scores(scores: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean of each score over the rows of a ``by`` group that have it (e.g. over models and optimizers),
    with how many rows had it."""
    agg = {}
    for s in ["acc", *SCORES]:
        agg[s] = (s, lambda v: pd.to_numeric(v, errors="coerce").mean())
        agg[f"n_{s}"] = (s, lambda v: int(pd.to_numeric(v, errors="coerce").notna().sum()))
    return scores.groupby(by, dropna=False, sort=True).agg(**agg).reset_index()


def scores_markdown(scores: pd.DataFrame) -> str:
    """A table of the scored rows (accuracies and scores as fractions, 3 decimals) and their missing references."""
    def f(v: object) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{round(float(v), 3) + 0.0:.3f}"  # no -0.000

    preset = ["protocol"] if (scores["protocol"].map(spell) != "-").any() else []  # a published preset's name
    rows = [[r["method"], r["ipc"], r["loss"], r["model"], r["optimizer"], r["augment"], *(r[c] for c in preset),
             r["n"], f(r["acc"]), f(r["hlr"]), f(r["ior"]), f(r["lrs"]), f(r["ars"])] for _, r in scores.iterrows()]
    table = tabulate(rows, headers=["method", "ipc", "loss", "model", "optimizer", "augment", *preset, "n", "acc",
                                    "HLR", "IOR", "LRS", "ARS"], tablefmt="github", disable_numparse=True)
    notes = sorted(set(n for m in scores["missing"] for n in m.split(NOTE_SEP) if n))
    return table + ("\n\nMissing references:\n" + "\n".join(f"- {n}" for n in notes) if notes else "") + "\n"
