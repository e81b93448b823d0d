"""The leaderboard as one static HTML page: sortable, filterable tables that work from file:// with no network.

Every piece of text is HTML-escaped; the stylesheet and script are inline (``reports.site_assets``) and a
Content-Security-Policy forbids any fetch, so the page never reaches out. Output is deterministic.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from reports.leaderboard import (
    READING_NOTE,
    Column,
    Row,
    SuiteData,
    columns_for,
    ipc_order,
    provenance_of,
    published_sources,
    record_set_hash,
    rel,
    tables,
)
from reports.site_assets import CSS, JS

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src file: data:"
NUM_CLASS = ' class="num"'
FILTERS = (("dataset", "dataset"), ("ipc", "ipc"), ("regime", "label regime"), ("suite", "suite"))  # row attribute, label


def esc(text: object) -> str:
    """``text`` escaped for HTML content and quoted attribute values."""
    return html.escape(str(text), quote=True)


def inline_markup(text: str) -> str:
    """Escape ``text``, then render its `code` and *emphasis* spans (the Markdown note reused in HTML)."""
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", esc(text))
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", out)


def sort_key_text(value: float | str | None) -> str:
    """The ``data-v`` a cell sorts by: repr of a number, the text itself, or empty when missing."""
    if value is None:
        return ""
    return repr(float(value)) if isinstance(value, (int, float)) else str(value)


def row_attrs(row: Row) -> dict[str, str]:
    """The attributes the filters match a row on."""
    return {"dataset": row.dataset, "ipc": row.ipc, "regime": row.regime, "suite": row.suite}


def table_html(rows: list[Row], cols: list[Column]) -> str:
    """A sortable table: header buttons, cells carrying their sort value in ``data-v``."""
    head = "".join(f'<th scope="col" data-type="{"num" if c.numeric else "text"}"><button type="button">'
                   f"{esc(c.header)}</button></th>" for c in cols)
    body = []
    for r in rows:
        attrs = "".join(f' data-{k}="{esc(v)}"' for k, v in row_attrs(r).items())
        cells = "".join(f'<td{NUM_CLASS if c.numeric else ""} data-v="{esc(sort_key_text(c.sort_value(r)))}"'
                        f"{_title(c, r)}>{esc(c.text(r))}</td>" for c in cols)
        body.append(f"<tr{attrs}>{cells}</tr>")
    return f'<table class="lb"><thead><tr>{head}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>"


def _title(col: Column, row: Row) -> str:
    if col.header == "source" and row.published is not None:
        return f' title="{esc(row.published["source"])}"'
    return ""


def filters_html(rows: list[Row]) -> str:
    """The text box, one select per filter attribute (values sorted) and the shown-rows counter."""
    parts = ['<label>filter <input id="q" type="search" placeholder="any text in a row"></label>']
    for key, label in FILTERS:
        values = sorted({row_attrs(r)[key] for r in rows}, key=ipc_order if key == "ipc" else None)
        options = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
        parts.append(f'<label>{esc(label)} <select id="f-{key}" data-key="{key}"><option value="">all</option>'
                     f"{options}</select></label>")
    parts.append('<span id="shown" aria-live="polite"></span>')
    return '<nav class="filters">' + "\n".join(parts) + "</nav>"


def suite_html(suite: SuiteData, out_dir: Path) -> str:
    """A suite's description, links to its report files and thumbnails of its figures."""
    links = " · ".join(f'<a href="{esc(rel(p, out_dir))}">{esc(p.name)}</a>' for p in suite.files) or "no report files"
    figs = "".join(f'<a href="{esc(rel(p, out_dir))}"><img src="{esc(rel(p, out_dir))}" alt="{esc(p.stem)}"></a>'
                   for p in suite.files if p.suffix == ".png")
    stale = f" ({suite.stale} stale record(s) left out)" if suite.stale else ""
    return (f'<article id="suite-{esc(suite.name)}"><h3>{esc(suite.name)}</h3>'
            f"<p>{esc(suite.description or '-')}</p><p>{esc(suite.held())}{esc(stale)}: {links}</p>"
            + (f'<div class="figs">{figs}</div>' if figs else "") + "</article>")


def provenance_html(suites: list[SuiteData]) -> str:
    """One provenance line per suite, then the record-set hash of everything shown."""
    heads = ["suite", "records", "record-set hash", "commits", "versions", "devices"]
    lines = []
    for s in suites:
        p = provenance_of(s.records)
        cells = [s.name, str(p.records), p.record_set_hash, ", ".join(p.commits), " / ".join(p.versions),
                 " / ".join(p.devices)]
        lines.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    every = [r for s in suites for r in s.records]
    return ("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr></thead><tbody>\n"
            + "\n".join(lines) + f"\n</tbody></table><p>All {len(every)} records: record-set hash "
            f"<code>{record_set_hash(every)}</code>.</p>")


def sources_html(suites: list[SuiteData]) -> str:
    """The published numbers' references with their full sources."""
    sources = published_sources(suites)
    if not sources:
        return ""
    items = "".join(f"<li>[{esc(ref)}] {esc(src)} (suites: {esc(', '.join(names))})</li>"
                    for (ref, src), names in sources.items())
    return f'<section id="sources"><h2>Published sources</h2><ul>{items}</ul></section>'


def render_site(suites: list[SuiteData], rows: list[Row], out_dir: Path) -> str:
    """The whole index.html; links and images are relative to ``out_dir`` (where the page is written)."""
    boards, toc = [], []
    for (dataset, ipc), table_rows in tables(rows).items():
        anchor = esc(f"board-{dataset}-{ipc}")
        toc.append(f'<a href="#{anchor}">{esc(dataset)} ipc {esc(ipc)}</a>')
        boards.append(f'<section class="board" id="{anchor}" data-dataset="{esc(dataset)}" data-ipc="{esc(ipc)}">'
                      f"<h2>{esc(dataset)}, ipc {esc(ipc)}</h2>\n{table_html(table_rows, columns_for(table_rows))}"
                      "</section>")
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>ddbench leaderboard</title>", '<link rel="icon" href="data:,">', f"<style>{CSS}</style>", "</head>",
        "<body>", "<h1>ddbench leaderboard</h1>",
        "<p class=\"note\">Generated by <code>ddbench leaderboard</code> from the stored records; do not edit by hand. "
        "Click a column header to sort; filter with the box and the selects.</p>",
        f'<p class="note">{inline_markup(READING_NOTE)}</p>',
        '<p class="toc">Tables: ' + " · ".join(toc) + ' · <a href="#suites">suites and figures</a> · '
        '<a href="#provenance">provenance</a></p>',
        filters_html(rows), "<main>", *boards,
        '<section id="suites"><h2>Suites</h2>', *(suite_html(s, out_dir) for s in suites), "</section>",
        sources_html(suites),
        f'<section id="provenance"><h2>Provenance</h2>{provenance_html(suites)}</section>',
        "</main>", f"<script>{JS}</script>", "</body>", "</html>", "",
    ])
