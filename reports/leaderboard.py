"""The cross-suite leaderboard: every suite's stored records as one table per dataset and ipc.

``build_leaderboard`` writes ``reports/LEADERBOARD.md`` and a static ``reports/site/index.html`` (see
``reports.site``). Both are pure functions of the records and the suite files: rows are sorted, floats have
fixed formats and nothing records the time of writing, so the same records give byte-identical files.

Label regime of a row: ``learned`` when the method learns its labels (``ld`` or a name starting ``ld_``);
otherwise from the artifact's ``label_kind``: ``hard`` -> hard, ``soft`` -> static soft (a distribution stored
once), ``online`` -> online soft (a teacher relabels every augmented batch).
"""

from __future__ import annotations

import hashlib
import math
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats
from tabulate import tabulate

from benchmarks.errors import UserError, suggest
from benchmarks.suite import published_row
from reports.frame import load_records, to_frame

LABEL_REGIMES = {"hard": "hard", "soft": "static soft", "online": "online soft"}
LEARNED_LABEL_METHODS = ("ld",)  # these methods and their ``<name>_*`` variants learn their labels
CI_LEVEL = 0.95
# What a row averages over, shown in its "averaged over" column: (frame column, plural noun, prefix of a value list).
AXES = (("model", "models", ""), ("optimizer", "optimizers", ""), ("loss", "losses", ""),
        ("augment", "augmentations", "augment "), ("iterations", "budgets", "iterations "))
AXIS_LIST_MAX = 3  # an axis with more values than this is shown as a count


READING_NOTE = (
    f"Test accuracy (%) at the final training step: mean, sample std, n runs and a {CI_LEVEL:.0%} t-interval of the "
    "mean over the runs of a suite's method (all its models, optimizers, losses, seeds and distillation budgets, listed "
    "under *averaged over*). Label regime: `learned` for methods that learn their labels (`ld`, `ld_*`), otherwise the "
    "artifact's labels: hard, static soft (stored distributions) or online soft (a teacher relabels each augmented "
    "batch). Costs are means: distillation wall time and label storage per artifact, evaluation wall time per run. "
    "Published numbers come from the suites' `[[published]]` rows (their own protocols, not re-run here)."
)


def label_regime(method: str, label_kind: str | None) -> str:
    """hard / static soft / online soft / learned, from the method name and the artifact's label kind."""
    if any(method == m or method.startswith(f"{m}_") for m in LEARNED_LABEL_METHODS):
        return "learned"
    return LABEL_REGIMES.get(str(label_kind), str(label_kind or "unknown"))


def t_interval(values: list[float], level: float = CI_LEVEL) -> tuple[float, float] | None:
    """Two-sided t confidence interval of the mean over runs; None with fewer than two runs."""
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


def record_set_hash(records: list[dict[str, Any]]) -> str:
    """The same digest of record keys that each suite's leaderboard.md prints, so the two can be matched."""
    return hashlib.sha256("".join(sorted(r["key"] for r in records)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Provenance:
    """Where a set of records came from: commits, library versions, devices and the record-set hash."""

    records: int
    record_set_hash: str
    commits: tuple[str, ...]
    versions: tuple[str, ...]
    devices: tuple[str, ...]


def provenance_of(records: list[dict[str, Any]]) -> Provenance:
    """Sorted distinct commits (12 characters), library versions and devices of ``records``."""
    prov = [r.get("provenance") or {} for r in records]
    libs = ("torch", "timm", "kornia", "python")
    return Provenance(
        records=len(records), record_set_hash=record_set_hash(records),
        commits=tuple(sorted({str(p.get("commit"))[:12] for p in prov})),
        versions=tuple(sorted({"; ".join(f"{lib} {p.get(lib)}" for lib in libs) for p in prov})),
        devices=tuple(sorted({str(p.get("device")) for p in prov})),
    )


@dataclass(frozen=True)
class SuiteData:
    """One suite's records (those of cells the suite still defines) with what the leaderboard shows about it."""

    name: str
    description: str
    records: list[dict[str, Any]]
    stale: int
    published: list[dict[str, Any]]
    files: list[Path]  # the suite report's leaderboard.md, results.csv and figures that exist on disk
    planned: int | None = None  # cells the suite defines (None: not a packaged suite)

    def held(self) -> str:
        """How many records it holds, "of N cells" when the suite is not complete yet."""
        partial = self.planned is not None and len(self.records) < self.planned  # one record per cell key
        return f"{len(self.records)} records" + (f" of {self.planned} cells, partial" if partial else "")


def _robustness(record: dict[str, Any]) -> dict[str, float]:
    summary = ((record.get("metrics") or {}).get("robustness") or {}).get("summary") or {}
    return {str(k): float(v) for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _label_storage(record: dict[str, Any]) -> float | None:
    cost = record.get("cost") or {}
    value = cost.get("label_storage_bytes", cost.get("label_bytes"))
    return None if value is None else float(value)


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(kept) / len(kept) if kept else None


@dataclass(frozen=True)
class Row:
    """One (dataset, ipc, suite, method, protocol) line: accuracy statistics over its runs, costs and published number."""

    dataset: str
    ipc: str
    suite: str
    method: str
    regime: str
    averaged_over: str
    accs: tuple[float, ...]
    errors: int
    distill_s: float | None
    eval_s: float | None
    label_bytes: float | None
    published: dict[str, Any] | None
    robustness: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.accs)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.accs) if self.accs else None

    @property
    def std(self) -> float | None:
        if not self.accs:
            return None
        return statistics.stdev(self.accs) if self.n > 1 else 0.0

    @property
    def ci(self) -> tuple[float, float] | None:
        return t_interval(list(self.accs))


def _axis_value(value: Any) -> tuple[int, float, str]:
    """Sort numbers numerically before text; show whole floats (from pandas' NaN-padded columns) as integers."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return 0, float(value), str(int(value)) if float(value).is_integer() else str(value)
    return 1, 0.0, str(value)


def _axis_text(values: pd.Series, plural: str, prefix: str) -> str:
    vals = sorted({_axis_value(v) for v in values.dropna() if v is not None})
    if not vals:
        return ""
    if len(vals) > AXIS_LIST_MAX:
        return f"{len(vals)} {plural}"
    return prefix + ", ".join(text for _, _, text in vals)


def suite_rows(suite: SuiteData) -> list[Row]:
    """The suite's rows: its records grouped by dataset, ipc and method."""
    if not suite.records:
        return []
    df = to_frame(suite.records)
    by_key = {r["key"]: r for r in suite.records}
    rows = []
    for (dataset, ipc, method, protocol), g in df.groupby(["dataset", "ipc", "method", "protocol"], sort=False):
        ok = g[g.status == "ok"]
        recs = [by_key[k] for k in ok["key"]]
        per_artifact = {r["artifact"]["hash"]: r for r in recs if r.get("artifact")}  # distillation happens per artifact
        robust: dict[str, list[float]] = {}
        for r in recs:
            for k, v in _robustness(r).items():
                robust.setdefault(k, []).append(v)
        kinds = sorted({str(k) for k in g["label_kind"].dropna()})
        rows.append(Row(
            dataset=str(dataset), ipc=str(ipc), suite=suite.name, method=str(method),
            regime=label_regime(str(method), kinds[0] if len(kinds) == 1 else "/".join(kinds) or None),
            averaged_over="; ".join(t for t in ([f"protocol {protocol}"] if protocol != "-" else [])  # presets never pool
                                    + [_axis_text(g[col], *names) for col, *names in AXES] if t),
            accs=tuple(float(v) for v in ok["test_acc"].dropna()), errors=int((g.status == "error").sum()),
            distill_s=_mean([(r.get("cost") or {}).get("distill_wall_s") for r in per_artifact.values()]),
            eval_s=_mean([(r.get("cost") or {}).get("wall_s") for r in recs]),
            label_bytes=_mean([_label_storage(r) for r in per_artifact.values()]),
            published=published_row(suite.published, str(dataset), str(method), str(ipc), str(protocol)),
            robustness={k: sum(v) / len(v) for k, v in sorted(robust.items())},
        ))
    return rows


def ipc_order(ipc: str) -> tuple[int, str]:
    """Numeric ipc first in increasing order, then ``all`` (the full-data reference) and anything else."""
    return (int(ipc), "") if ipc.isdigit() else (10**9, ipc)


def row_order(row: Row) -> tuple[Any, ...]:
    """Best mean accuracy first; rows without one last; ties broken by suite and method."""
    return (row.mean is None, -(row.mean or 0.0), row.suite, row.method, row.averaged_over)


def tables(rows: list[Row]) -> dict[tuple[str, str], list[Row]]:
    """Rows grouped per (dataset, ipc), datasets alphabetically, ipc increasing, rows best first."""
    out: dict[tuple[str, str], list[Row]] = {}
    for row in sorted(rows, key=lambda r: (r.dataset, ipc_order(r.ipc))):
        out.setdefault((row.dataset, row.ipc), []).append(row)
    return {k: sorted(v, key=row_order) for k, v in out.items()}


def fmt(value: float | None, spec: str) -> str:
    """``value`` in the fixed format ``spec``, or '-' when missing."""
    return "-" if value is None else format(value, spec)


def fmt_bytes(value: float | None) -> str:
    """Decimal byte size with one decimal (``4.0 kB``), or '-' when missing."""
    if value is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def fmt_published(p: dict[str, Any] | None) -> str:
    """``91.7 ± 0.3`` from a suite's ``[[published]]`` row, or '-'."""
    if p is None:
        return "-"
    return f"{p['acc']:.1f}" + (f" ± {p['std']:.1f}" if p.get("std") is not None else "")


@dataclass(frozen=True)
class Column:
    """A leaderboard column: its header, the value it sorts by, and the text it shows."""

    header: str
    sort_value: Callable[[Row], float | str | None]
    text: Callable[[Row], str]
    numeric: bool = True


def _ci_text(row: Row) -> str:
    ci = row.ci
    return "-" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


BASE_COLUMNS = [
    Column("suite", lambda r: r.suite, lambda r: r.suite, numeric=False),
    Column("method", lambda r: r.method, lambda r: r.method, numeric=False),
    Column("label regime", lambda r: r.regime, lambda r: r.regime, numeric=False),
    Column("test acc (%)", lambda r: r.mean, lambda r: fmt(r.mean, ".2f")),
    Column("std", lambda r: r.std, lambda r: fmt(r.std, ".2f")),
    Column("n", lambda r: r.n, lambda r: str(r.n)),
    Column(f"{CI_LEVEL:.0%} CI", lambda r: None if r.ci is None else r.ci[0], _ci_text),
    Column("published", lambda r: None if r.published is None else float(r.published["acc"]),
           lambda r: fmt_published(r.published)),
    Column("source", lambda r: None if r.published is None else r.published["ref"],
           lambda r: "-" if r.published is None else r.published["ref"], numeric=False),
    Column("distill (s)", lambda r: r.distill_s, lambda r: fmt(r.distill_s, ".1f")),
    Column("eval (s)", lambda r: r.eval_s, lambda r: fmt(r.eval_s, ".1f")),
    Column("label storage", lambda r: r.label_bytes, lambda r: fmt_bytes(r.label_bytes)),
    Column("failed", lambda r: r.errors, lambda r: str(r.errors)),
    Column("averaged over", lambda r: r.averaged_over, lambda r: r.averaged_over, numeric=False),
]


def robustness_column(key: str) -> Column:
    """A column for one numeric key of ``metrics.robustness.summary`` (mean over the row's runs)."""
    return Column(f"robustness: {key}", lambda r: r.robustness.get(key), lambda r: fmt(r.robustness.get(key), ".2f"))


def columns_for(rows: list[Row]) -> list[Column]:
    """The base columns plus one per robustness key any of ``rows`` carries (none when no record has robustness)."""
    keys = sorted({k for r in rows for k in r.robustness})
    return BASE_COLUMNS[:-1] + [robustness_column(k) for k in keys] + BASE_COLUMNS[-1:]


def suite_files(suite_dir: Path) -> list[Path]:
    """The suite report's files worth linking: leaderboard.md, results.csv, then its figures, sorted."""
    named = [suite_dir / n for n in ("leaderboard.md", "results.csv")]
    return [p for p in named if p.is_file()] + sorted(suite_dir.glob("*.png"))


def available_suites(reports_root: Path) -> list[str]:
    """Suites with stored records under ``reports_root`` (a ``<suite>/records/`` folder)."""
    return sorted(p.parent.name for p in Path(reports_root).glob("*/records") if p.is_dir())


def load_suite_data(name: str, reports_root: Path) -> SuiteData:
    """A suite's stored records, keeping only cells its suite file still defines (as ``ddbench report`` does)."""
    from benchmarks.suite import load_suite, packaged_suites

    folder = Path(reports_root) / name
    records = load_records(folder / "records")
    if name not in packaged_suites():
        return SuiteData(name, "", records, 0, [], suite_files(folder))
    spec = load_suite(name)
    wanted = {c.key for c in spec.cells()}
    kept = [r for r in records if r["key"] in wanted]
    return SuiteData(name, spec.description, kept, len(records) - len(kept), list(spec.published), suite_files(folder),
                     len(wanted))


def rel(target: Path, start: Path) -> str:
    """``target`` relative to the folder ``start``, with forward slashes (a link that works from the file system)."""
    return Path(os.path.relpath(Path(target).resolve(), Path(start).resolve())).as_posix()


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*").replace("\n", " ")


def published_sources(suites: list[SuiteData]) -> dict[tuple[str, str], list[str]]:
    """Each distinct (reference, source) of the suites' published rows, with the suites that cite it."""
    out: dict[tuple[str, str], list[str]] = {}
    for s in suites:
        for p in s.published:
            names = out.setdefault((p["ref"], p["source"]), [])
            if s.name not in names:
                names.append(s.name)
    return dict(sorted(out.items()))


def markdown(suites: list[SuiteData], rows: list[Row], out_dir: Path) -> str:
    """LEADERBOARD.md: suites with links, one table per dataset and ipc, published sources and provenance."""
    lines = ["# ddbench leaderboard (all suites)", "",
             "Generated by `ddbench leaderboard` from `reports/<suite>/records/` and the suites' TOML files; "
             "do not edit by hand.", "",
             READING_NOTE, "",
             "## Suites", ""]
    for s in suites:
        links = " · ".join(f"[{p.name}]({rel(p, out_dir)})" for p in s.files) or "no report files"
        stale = f", {s.stale} stale left out" if s.stale else ""
        lines += [f"- **{s.name}** ({s.held()}{stale}): {_md_cell(s.description or '-')}", f"  {links}"]
    for (dataset, ipc), table_rows in tables(rows).items():
        cols = columns_for(table_rows)
        lines += ["", f"## {dataset}, ipc {ipc}", ""]
        body = [[_md_cell(c.text(r)) for c in cols] for r in table_rows]
        lines.append(tabulate(body, headers=[c.header for c in cols], tablefmt="github", disable_numparse=True))
    sources = published_sources(suites)
    if sources:
        lines += ["", "## Published sources", ""] + [f"- [{_md_cell(ref)}] {_md_cell(src)} (suites: {', '.join(names)})"
                                                     for (ref, src), names in sources.items()]
    lines += ["", "## Provenance", ""]
    prov_rows = []
    for s in suites:
        p = provenance_of(s.records)
        prov_rows.append([s.name, str(p.records) + (f" (+{s.stale} stale)" if s.stale else ""), f"`{p.record_set_hash}`",
                          ", ".join(p.commits), " / ".join(p.versions), " / ".join(p.devices)])
    lines.append(tabulate(prov_rows, headers=["suite", "records", "record-set hash", "commits", "versions", "devices"],
                          tablefmt="github", disable_numparse=True))
    every = [r for s in suites for r in s.records]
    lines += ["", f"All {len(every)} records: record-set hash `{record_set_hash(every)}`. Stale records (of cells a "
              "suite no longer defines) stay on disk and are left out.", ""]
    return "\n".join(lines)


def select_suites(suites: list[str] | None, reports_root: Path) -> list[str]:
    """The suites to show: those named (each must have records) or every suite with records."""
    known = available_suites(reports_root)
    if not suites:
        if not known:
            raise UserError(f"no suite records under {reports_root}: run `ddbench run SUITE` first")
        return known
    for name in suites:
        if name not in known:
            raise UserError(f"no records for suite {name!r} under {reports_root}{suggest(name, known)}")
    return sorted(set(suites))
