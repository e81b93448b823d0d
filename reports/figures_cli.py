"""``ddbench figures SUITE --format pdf|svg|png --out DIR``: a suite's paper figures and every leaderboard table
as LaTeX (booktabs), from its stored records and its committed artifacts, in one folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.artifact import load_artifact
from benchmarks.errors import UserError
from benchmarks.spec import cell_key

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("pdf", "svg", "png")


def add_parser(subparsers: Any) -> None:
    """Add the ``figures`` subcommand to the CLI's subparsers."""
    p = subparsers.add_parser("figures", help="write a suite's paper figures (pdf, svg or png) and LaTeX tables")
    p.add_argument("suite", help="a suite name (or TOML path) with stored records")
    p.add_argument("--format", choices=FORMATS, default="pdf", help="figure file format (default: pdf)")
    p.add_argument("--out", default=None, help="output folder (default: reports/<suite>/paper)")
    p.add_argument("--records-dir", default=None, help="default: reports/<suite>/records")
    p.add_argument("--latex", action=argparse.BooleanOptionalAction, default=True,
                   help="also write every leaderboard table as LaTeX (default: on)")


def run(args: argparse.Namespace) -> None:
    """Write the figures (and tables) and print the files written."""
    from benchmarks.suite import load_suite, packaged_suites
    from reports.cells import suite_records_dir  # pandas and matplotlib load when the command runs, not when declared

    name = Path(args.suite).stem if args.suite.endswith(".toml") else args.suite
    records_dir = suite_records_dir(args.suite, args.records_dir)
    suite = load_suite(args.suite) if name in packaged_suites() or args.suite.endswith(".toml") else None
    cells = None if suite is None else [c.config for c in suite.cells()]
    out = Path(args.out) if args.out else records_dir.parent / "paper"
    for path in write_paper(records_dir, out, args.format, args.latex, cells):
        print(f"wrote {path}")


def suite_frame(records_dir: Path, cells: list[dict[str, Any]] | None) -> pd.DataFrame:
    """The results frame of the records that belong to the suite's current cells (all of them without cells)."""
    from reports.frame import load_records, to_frame

    records = load_records(records_dir)
    if cells is not None:
        wanted = {cell_key(c) for c in cells}
        records = [r for r in records if r["key"] in wanted]
    if not records:
        raise UserError(f"{records_dir} holds no records of this suite: run the suite first")
    return to_frame(records)


def write_paper(records_dir: Path, out: Path, fmt: str, latex: bool = True,
                cells: list[dict[str, Any]] | None = None) -> list[Path]:
    """Every figure the records call for in ``fmt``, label grids of the committed artifacts, and (``latex``) the
    tables; returns the paths written. Deterministic: the same records give the same bytes."""
    from reports import figures

    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    df = suite_frame(records_dir, cells)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for dataset in sorted(df["dataset"].unique()):
        for stem, draw in figures.suite_figures(df, dataset):
            draw(out / f"{stem}.{fmt}")
            written.append(out / f"{stem}.{fmt}")
        if latex:
            written += write_tables(df[df.dataset == dataset], dataset, out)
    for art in sorted((records_dir.parent / "artifacts").glob("*.json")):
        ds = load_artifact(art)
        path = out / f"{figures.label_grid_name(ds)}.{fmt}"
        figures.label_grid(ds, ds.meta.get("classes") or [str(c) for c in range(ds.num_classes)], path)
        written.append(path)
    return written


def write_tables(dd: pd.DataFrame, dataset: str, out: Path) -> list[Path]:
    """The leaderboard's tables of one dataset as LaTeX: by method (and loss) per ipc, and one column per value
    of every other axis the suite varies (model, optimizer, loss)."""
    from reports.generate import summarise
    from reports.latex import pivot_latex, summary_latex

    by_loss = ["loss"] if dd["loss"].nunique() > 1 else []
    tables: dict[str, str] = {}
    s = summarise(dd, ["method", *by_loss, "ipc"])
    s = s.assign(_ipc=s["ipc"].map(lambda v: 10**9 if v == "all" else int(v))).sort_values(
        ["_ipc", "mean"], ascending=[True, False]).drop(columns="_ipc")
    tables[f"table_{dataset}"] = summary_latex(
        s, ["method", *by_loss, "ipc"], group_by=["ipc"], caption=f"{dataset}: test accuracy (\\%), mean $\\pm$ std "
        "over models, optimizers and seeds; best per ipc in bold.", label=f"tab:{dataset}")
    for axis in ("model", "optimizer", "loss"):
        if dd[axis].nunique() > 1:
            index = ["method", "ipc", *(c for c in ("model", "optimizer", "loss") if c != axis and dd[c].nunique() > 1)]
            sub = summarise(dd, [*index, axis])
            tables[f"table_{axis}_{dataset}"] = pivot_latex(
                sub.assign(ipc=sub["ipc"].astype(str)), index, axis,
                caption=f"{dataset}: test accuracy (\\%) by {axis}, mean $\\pm$ std; best per column in bold.",
                label=f"tab:{dataset}-{axis}")
    paths = []
    for stem, text in tables.items():
        path = out / f"{stem}.tex"
        path.write_text(text)
        paths.append(path)
    return paths
