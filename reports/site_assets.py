"""The leaderboard site's inline stylesheet and script (no CDN, no network, works from file://).

The script sorts a table when a header button is clicked (numbers numerically, missing values last in
either direction) and filters rows by a text box and by the dataset / ipc / regime / suite selects.
"""

from __future__ import annotations

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1400px; padding: 0 1rem 3rem; color: #1b1b1b; }
h1 { margin: 1rem 0 .3rem; } h2 { margin: 1.6rem 0 .4rem; font-size: 1.2rem; }
p.note { color: #444; max-width: 75rem; }
nav.filters { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ccc; padding: .5rem 0;
  display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; z-index: 1; }
nav.filters input { min-width: 16rem; }
#shown { color: #555; }
table { border-collapse: collapse; margin: .3rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .2rem .5rem; text-align: left; vertical-align: top; }
td.num, th[data-type="num"] { text-align: right; font-variant-numeric: tabular-nums; }
td:not(:last-child) { white-space: nowrap; }
section { scroll-margin-top: 3.5rem; }
th button { font: inherit; font-weight: 600; background: none; border: 0; padding: 0; cursor: pointer; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; }
th[aria-sort="descending"] button::after { content: " \\25BC"; }
tbody tr:hover { background: #f3f6fa; }
.figs { display: flex; flex-wrap: wrap; gap: .5rem; }
.figs img { width: 220px; border: 1px solid #ddd; }
code { font-size: 90%; }
"""

JS = """
"use strict";
(function () {
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.lb tbody tr"));
  var query = document.getElementById("q");
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-key]"));
  var shown = document.getElementById("shown");

  function matches(tr, q) {
    for (var i = 0; i < selects.length; i++) {
      var s = selects[i];
      if (s.value && tr.getAttribute("data-" + s.getAttribute("data-key")) !== s.value) { return false; }
    }
    return !q || tr.textContent.toLowerCase().indexOf(q) >= 0;
  }

  function applyFilter() {
    var q = query.value.trim().toLowerCase();
    var visible = 0;
    rows.forEach(function (tr) {
      tr.hidden = !matches(tr, q);
      if (!tr.hidden) { visible += 1; }
    });
    document.querySelectorAll("section.board").forEach(function (sec) {
      sec.hidden = !sec.querySelector("tbody tr:not([hidden])");
    });
    shown.textContent = visible + " of " + rows.length + " rows shown";
  }

  function value(tr, i, numeric) {
    var v = tr.cells[i].getAttribute("data-v");
    if (v === null || v === "") { return null; }
    return numeric ? Number(v) : v;
  }

  function sortBy(th) {
    var i = th.cellIndex;
    var numeric = th.getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir);
    var sign = dir === "ascending" ? 1 : -1;
    var body = th.closest("table").tBodies[0];
    var sorted = Array.prototype.slice.call(body.rows).sort(function (a, b) {
      var x = value(a, i, numeric), y = value(b, i, numeric);
      if (x === null || y === null) { return (x === null ? 1 : 0) - (y === null ? 1 : 0); }
      return sign * (x < y ? -1 : (x > y ? 1 : 0));
    });
    sorted.forEach(function (tr) { body.appendChild(tr); });
  }

  document.querySelectorAll("table.lb th button").forEach(function (b) {
    b.addEventListener("click", function () { sortBy(b.parentNode); });
  });
  query.addEventListener("input", applyFilter);
  selects.forEach(function (s) { s.addEventListener("change", applyFilter); });
  applyFilter();
}());
"""
