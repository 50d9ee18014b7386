"""The board as one static web page, ``index.html``, rendered from the entries alone (as ``LEADERBOARD.md``).

No server, no external resource: CSS and a few lines of JavaScript are inline, the plots are the PNGs beside
the page. Table 4 sorts by any column (click its header); the full-suite table has a toggle per threat;
every defense has a detail view (config, seeds, precision, compute, masking checks, checkpoints with their
SHA-256, code versions). Narrow screens scroll the tables sideways inside the page.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections import defaultdict
from pathlib import Path

from benchmark import entries as E
from benchmark import study
from benchmark.board import (
    MARK,
    TABLE4_NOTE,
    TABLE4_SUMMARY,
    _order,
    _qualifier,
    _threats,
    masking_cell,
    threat_title,
)
from benchmark.curves import SEEDS_NOTE, seeds_mark
from benchmark.verdict import verdict

PAPER_THREATS = ("clean", "fgsm", "occlusion", "semantic")

STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 12px;line-height:1.4;color:#222}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:8px 0}
table{border-collapse:collapse;font-size:14px;white-space:nowrap}
th,td{border:1px solid #ccc;padding:4px 6px;text-align:right}
th{background:#f3f3f3;cursor:pointer;user-select:none}
td:first-child,th:first-child{text-align:left}
th[aria-sort=ascending]::after{content:" ▲"} th[aria-sort=descending]::after{content:" ▼"}
button.name{border:0;background:none;color:#0645ad;text-decoration:underline;cursor:pointer;font:inherit;padding:0}
.detail{border:1px solid #999;padding:8px;margin:8px 0;background:#fafafa}
.detail dt{font-weight:600} .detail dd{margin:0 0 6px 0;word-break:break-all}
img{max-width:100%;height:auto} .note{font-size:13px;color:#444}
label{margin-right:10px;white-space:nowrap}
@media (max-width:600px){table{font-size:12px} h1{font-size:20px}}
"""

SCRIPT = """
function sortBy(th){
  const table=th.closest('table'), body=table.tBodies[0], col=th.cellIndex;
  const dir=th.getAttribute('aria-sort')==='descending'?'ascending':'descending';
  table.querySelectorAll('th').forEach(h=>h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort',dir);
  const key=r=>{const v=r.cells[col].dataset.sort;const x=parseFloat(v);return v===''?null:(isNaN(x)?v:x);};
  const rows=[...body.rows].sort((a,b)=>{const x=key(a),y=key(b);
    if(x===null||y===null)return (x===null)-(y===null);  /* no number (the baseline's delta): last */
    const c=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));
    return dir==='ascending'?c:-c;});
  rows.forEach(r=>body.appendChild(r));
}
function showDetail(name){
  document.querySelectorAll('.detail').forEach(d=>d.hidden=d.id!=='detail-'+name);
  const d=document.getElementById('detail-'+name); d.scrollIntoView(); return d;
}
function toggleThreat(box){
  document.querySelectorAll('[data-threat="'+box.value+'"]').forEach(c=>c.hidden=!box.checked);
}
"""


def _esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _num(x: float | None) -> str:
    return "" if x is None else repr(round(100 * x, 4))


def _cell(text: str, sort: str = "", **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{_esc(v)}"' for k, v in attrs.items())
    return f'<td data-sort="{_esc(sort)}"{extra}>{_esc(text)}</td>'


def _acc(t: dict | None) -> tuple[str, str]:
    if not t or t.get("mean") is None:
        return "–", ""
    hw = f" ± {100 * t['ci95']:.2f}" if t.get("ci95") is not None else ""
    return f"{100 * t['mean']:.2f}{hw}", _num(t["mean"])


def _delta(d: dict | None) -> tuple[str, str]:
    if not d:
        return "–", ""
    text = f"{100 * d['mean']:+.2f}" + (f" ± {100 * d['ci95']:.2f}" if d.get("ci95") is not None else "")
    return text + (f" {MARK}" if d.get("excludes_zero") else ""), _num(d["mean"])


def _sha256(path: Path) -> str:
    if not path.is_file():
        return "missing"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inline_md(text: str) -> str:
    """Escaped text with markdown's **strong**, *emphasis* and `code` as HTML (the verdict's paragraphs)."""
    t = _esc(text)
    t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"\*(.+?)\*", r"<em>\1</em>", t)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", t)


def _name_cell(e: dict, group: list[dict] | None = None) -> str:
    return (f'<td data-sort="{_esc(e["name"])}"><button class="name" data-detail="{_esc(e["name"])}" '
            f'onclick="showDetail(this.dataset.detail)">{_esc(e["name"])}</button>{_esc(_qualifier(e, group))}</td>')


def table4(group: list[dict], gid: str) -> str:
    threats = [t for t in _threats(group) if t in PAPER_THREATS]
    cols = ["Defense", *[threat_title(t) for t in threats], "Robustness", "Generalization", "Average", "Params (M)",
            "FLOPs (M)", "Masking"]
    head = "".join(f'<th onclick="sortBy(this)" data-col="{_esc(c.lower())}">{_esc(c)}</th>' for c in cols)
    rows = []
    for e in _order(study.table4_entries(group)):  # each pruning structure at its operating point
        d = e["deltas"] or {}
        cells = [_name_cell(e, group)]
        cells += [_cell(*_acc(e["threats"].get(t))) for t in threats]
        cells += [_cell(*_delta(d.get(k))) for k in TABLE4_SUMMARY]
        cells += [_cell(f"{e['params'] / 1e6:.3f}", repr(e["params"])), _cell(f"{e['flops'] / 1e6:.1f}",
                                                                                 repr(e["flops"])),
                  _cell(masking_cell(e["masking"]), masking_cell(e["masking"]))]
        rows.append(f'<tr data-name="{_esc(e["name"])}">{"".join(cells)}</tr>')
    body = "\n".join(rows)
    return (f'<div class="scroll"><table id="table4-{gid}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n'
            f'</tbody></table></div><p class="note">{_esc(TABLE4_NOTE)}</p>')


def full_suite(group: list[dict], gid: str) -> str:
    threats = _threats(group)
    boxes = "".join(f'<label><input type="checkbox" value="{_esc(t)}" checked onchange="toggleThreat(this)"> '
                    f'{_esc(threat_title(t))}</label>' for t in threats)
    head = '<th onclick="sortBy(this)">Defense</th>' + "".join(
        f'<th onclick="sortBy(this)" data-threat="{_esc(t)}">{_esc(threat_title(t))} '
        f'(n={_esc(max((e["threats"][t].get("n") or 0) for e in group if t in e["threats"]))})</th>' for t in threats)
    rows = []
    for e in _order(group):
        cells = [_name_cell(e)]
        for t in threats:
            text, key = _acc(e["threats"].get(t))
            mark = seeds_mark(e["threats"][t], e["seeds"]) if t in e["threats"] else ""
            cells.append(_cell(text + mark, key, data_threat=t))
        rows.append(f'<tr data-name="{_esc(e["name"])}">{"".join(cells)}</tr>')
    return (f'<p>{boxes}</p><div class="scroll"><table id="full-{gid}"><thead><tr>{head}</tr></thead>'
            f'<tbody>\n{chr(10).join(rows)}\n</tbody></table></div><p>{_esc(SEEDS_NOTE)}</p>')


def detail(e: dict, entries_dir: Path) -> str:
    ckpts = "<br>".join(f"seed {_esc(s)}: {_esc(p)} (sha256 {_sha256(entries_dir / p)})"
                        for s, p in sorted(e["checkpoints"].items()))
    facts = [("Defense", f"{e['defense']}{_qualifier(e)} — {e.get('paper', '')}"),
             ("Config", json.dumps(e["defense_config"], sort_keys=True)),
             ("Seeds", ", ".join(map(str, e["seeds"]))),
             ("Precision", e["compute"].get("precision", "not recorded")),
             ("Compute", json.dumps({k: v for k, v in e["compute"].items() if k != "precision"}, sort_keys=True)),
             ("Masking checks", masking_cell(e["masking"]) + ("" if masking_cell(e["masking"]) != "not checked" else
                                                             " (the full suite was not run on this entry)")),
             *((f"{threat_title(t)} by part (%)", ", ".join(f"{k} {100 * v:.2f}" for k, v in th["parts"].items()))
               for t, th in e["threats"].items() if th.get("parts")),
             ("Extra data", "yes" if e.get("extra_data") else "no"),
             ("Config hashes", json.dumps(e["config_hashes"], sort_keys=True)),
             ("Code versions", ", ".join(e["code_versions"]))]
    rows = "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in facts)
    return (f'<section class="detail" id="detail-{_esc(e["name"])}" hidden><h4>{_esc(e["name"])}</h4>'
            f'<dl>{rows}<dt>Checkpoints</dt><dd>{ckpts}</dd></dl></section>')


def render_page(entries: list[dict], entries_dir: Path) -> str:
    """``index.html`` from entries alone (plots referenced as ``plot-<arch>-<budget>.png`` beside the page)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for e in entries:
        groups[(e["architecture"], e["budget"]["name"])].append(e)
    body = ["<h1>defense-bench leaderboard</h1>",
            '<p class="note">Generated from <code>leaderboard/entries/*.json</code> only, as LEADERBOARD.md. '
            f"Accuracies in %, mean ± 95% half-width over seeds; deltas in points vs the baseline; {MARK}: the "
            "interval excludes zero. Click a column header to sort, a defense for its details.</p>"]
    for (arch, budget), group in sorted(groups.items()):
        gid = f"{arch}-{budget}"
        seeds = sorted({s for e in group for s in e["seeds"]})
        body += [f"<h2>{_esc(arch)}, budget {_esc(budget)} — seeds {_esc(', '.join(map(str, seeds)))}</h2>",
                 f'<p class="note">{_esc(group[0]["budget"]["description"])}</p>',
                 "<h3>Table 4 — defenses compared</h3>", table4(group, gid),
                 f'<img src="plot-{_esc(gid)}.png" alt="Robustness vs generalization delta per defense">',
                 *(f'<h3>{title}</h3><img src="{name}-{_esc(gid)}.png" alt="{title}">' for name, title in
                   (("eps", "Accuracy against ε"), ("dose", "Pruning dose–response against the control"))
                   if (entries_dir.parent / f"{name}-{gid}.png").is_file()),
                 *(("<h3>The verdict at this budget</h3>" + "".join(f"<p>{_inline_md(p)}</p>" for p in v.split("\n")
                                                                    if p))
                   for v in [verdict(group)] if v),
                 "<h3>Every threat evaluated</h3>", full_suite(group, gid),
                 "<h3>Details</h3>", *(detail(e, entries_dir) for e in _order(group))]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>defense-bench leaderboard</title><style>{STYLE}</style><script>{SCRIPT}</script></head>\n"
            f"<body>\n{chr(10).join(body)}\n</body></html>\n")


def write_page(entries_dir: Path, path: Path) -> Path:
    """Render the page of ``entries_dir``'s entries to ``path`` (atomically)."""
    text = render_page(E.load_entries(entries_dir), entries_dir)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path
