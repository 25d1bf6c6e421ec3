"""Renderers for `profkit.analyses.compare.CompareReport`: Markdown and terminal (rich). They format;
they decide nothing. The JSON document is `CompareReport.to_dict()` (docs/compare-json.md).
"""

from __future__ import annotations

import os

from profkit.analyses.compare import CompareReport, Comparison, DiffRow, MetricChange, PhaseComparison

OPS_SHOWN = 8  # per list (regressions, improvements, host) in the terminal and Markdown


# ---- shared formatting -------------------------------------------------------------------------------
def _setup_value(name: str, v) -> str:
    if v is None:
        return "unknown"
    if name.endswith("_bytes") and isinstance(v, (int, float)):
        return f"{v / 2**30:.1f} GiB"
    return str(v)


def _pct(v) -> str:
    return "-" if v is None else f"{v:+.1%}"


def _metric_cells(m: MetricChange) -> list[str]:
    return [
        f"{m.baseline:.2f}",
        f"{m.candidate:.2f}",
        f"{m.delta_ms:+.2f}",
        _pct(m.change),
        f"+/-{m.threshold_ms:.2f}",
        "yes" if m.significant else "no",
    ]


def _tokens_differ(p: PhaseComparison) -> bool:
    return p.baseline_tokens_per_step != p.candidate_tokens_per_step and p.wall_ms.baseline_per_token_ms is not None


def _step_rows(p: PhaseComparison) -> list[list[str]]:
    rows = []
    for m, label in ((p.wall_ms, "wall"), (p.gpu_busy_ms, "GPU busy")):
        row = [p.phase, label, *_metric_cells(m)]
        if _tokens_differ(p):
            row.append(f"{m.baseline_per_token_ms:.3g} -> {m.candidate_per_token_ms:.3g} ({_pct(m.per_token_change)})")
        rows.append(row)
    return rows


_STEP_HEADER = ["phase", "ms per step", "baseline", "candidate", "delta", "change", "threshold", "significant"]
_CATEGORY_HEADER = ["category", "baseline ms/step", "candidate ms/step", "delta ms", "change", "share of step b -> c"]
_OP_HEADER = ["operation", "match", "baseline ms/step", "candidate ms/step", "delta ms", "delta / step", "kernel (baseline -> candidate)"]
_HOST_HEADER = ["operation", "match", "baseline host ms/step", "candidate host ms/step", "delta ms", "delta / step"]


def _category_rows(p: PhaseComparison) -> list[list[str]]:
    return [
        [r.label, f"{r.baseline_ms:.3f}", f"{r.candidate_ms:.3f}", f"{r.delta_ms:+.3f}", _pct(r.change), f"{r.baseline_share:.1%} -> {r.candidate_share:.1%}"]
        for r in p.categories
    ]


def _kernel_text(r: DiffRow, limit: int = 40) -> str:
    a, b = _short(r.baseline_kernel, limit), _short(r.candidate_kernel, limit)
    if a == b:
        return a or "-"
    return f"{a or '-'} -> {b or '-'}"


def _kernel_diff(a: str, b: str, keep: int = 12) -> str:
    """Two kernel names by where they differ: 'nvjet_sm90_{tst_64x8_64x..|hsh_128x8_64..}'."""
    if a == b or not a or not b:
        return _short(a or b or "-", 34)
    prefix = os.path.commonprefix([a, b])  # noqa: RUF071 -- names, not paths: the character-wise prefix is meant
    return f"{_short(prefix, 14)}{{{_short(a[len(prefix) :], keep)}|{_short(b[len(prefix) :], keep)}}}"


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."


def _op_rows(rows: list[DiffRow]) -> list[list[str]]:
    return [
        [r.label, r.match, f"{r.baseline_ms:.3f}", f"{r.candidate_ms:.3f}", f"{r.delta_ms:+.3f}", f"{r.delta_share:+.1%}", _kernel_text(r)]
        for r in rows[:OPS_SHOWN]
    ]


def _host_rows(rows: list[DiffRow], wall_ms: float) -> list[list[str]]:
    return [
        [
            r.label,
            r.match,
            f"{r.baseline_host_ms:.2f}",
            f"{r.candidate_host_ms:.2f}",
            f"{r.delta_host_ms:+.2f}",
            f"{r.delta_host_ms / wall_ms:+.1%}" if wall_ms else "-",
        ]
        for r in rows[:OPS_SHOWN]
    ]


def _counter_text(p: PhaseComparison) -> str:
    parts = []
    for x in p.counters:
        if x.name == "idle_fraction":
            parts.append(f"GPU idle {x.baseline:.0%} -> {x.candidate:.0%}")
        elif x.name.endswith("_ms"):
            parts.append(f"{x.label} {x.baseline:.1f} -> {x.candidate:.1f}")
        else:
            parts.append(f"{x.label} {x.baseline:.0f} -> {x.candidate:.0f}")
    bound = f"; bound: {p.baseline_bound or '-'} -> {p.candidate_bound or '-'}"
    return "per step: " + ", ".join(parts) + bound


def _sections(p: PhaseComparison) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of the per-phase tables, shared by the terminal and Markdown renderers."""
    out = [(f"{p.phase}: kernel categories (GPU time per step)", _CATEGORY_HEADER, _category_rows(p))]
    if p.regressions:
        out.append((f"{p.phase}: top GPU regressions (aligned by operation and shapes)", _OP_HEADER, _op_rows(p.regressions)))
    if p.improvements:
        out.append((f"{p.phase}: top GPU improvements", _OP_HEADER, _op_rows(p.improvements)))
    if p.host_regressions:
        out.append((f"{p.phase}: top host-time regressions", _HOST_HEADER, _host_rows(p.host_regressions, p.wall_ms.baseline)))
    if p.host_improvements:
        out.append((f"{p.phase}: top host-time improvements", _HOST_HEADER, _host_rows(p.host_improvements, p.wall_ms.baseline)))
    gemms = [r for r in p.ops if r.key.startswith("linear:")]
    if gemms:
        out.append((f"{p.phase}: linear layers (GEMMs aligned by in->out features, not kernel names)", _OP_HEADER, _op_rows(gemms)))
    return out


def _title(c: Comparison) -> str:
    kind = " (repeat of the baseline set-up: the noise floor)" if c.kind == "repeat" else ""
    return f"{c.candidate.label} vs baseline {c.baseline.label}{kind}"


# ---- Markdown -------------------------------------------------------------------------------------------
def render_markdown(report: CompareReport) -> str:
    lines: list[str] = []
    for c in report.comparisons:
        lines += [f"## Compare: {_title(c)}", "", f"**Verdict.** {c.verdict}", ""]
        if c.workload_differences:
            lines += ["**Workload differences:** " + "; ".join(c.workload_differences), ""]
        lines += ["### Set-up", "", "| | baseline | candidate |", "|---|---|---|"]
        for f in c.setup:
            mark = " **(differs)**" if f.differs else ""
            lines.append(f"| {f.label}{mark} | {_setup_value(f.name, f.baseline)} | {_setup_value(f.name, f.candidate)} |")
        lines += ["", "### Steady-state steps", ""]
        per_token = any(_tokens_differ(p) for p in c.phases.values())
        header = _STEP_HEADER + (["per token (ms)"] if per_token else [])
        lines += [_md_row(header), _md_row(["---"] * len(header))]
        for p in c.phases.values():
            for row in _step_rows(p):
                lines.append(_md_row(row + ([""] if per_token and len(row) < len(header) else [])))
        lines.append("")
        for p in c.phases.values():
            lines += [f"- {p.phase}: {p.wall_ms.reason} (wall); {p.gpu_busy_ms.reason} (GPU busy)", f"- {p.phase} {_counter_text(p)}"]
        for p in c.phases.values():
            for title, head, rows in _sections(p):
                lines += ["", f"### {title}", "", _md_row(head), _md_row(["---"] * len(head))]
                lines += [_md_row(r) for r in rows]
        notes = c.notes + [n for p in c.phases.values() for n in p.notes]
        if notes:
            lines += ["", "### Notes", ""] + [f"- {n}" for n in notes]
        lines.append("")
    if report.unpaired or report.notes:
        lines += ["## Not compared", ""] + [f"- {n}" for n in report.unpaired + report.notes] + [""]
    return "\n".join(lines)


def _md_row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


# ---- terminal ---------------------------------------------------------------------------------------------
# Compact tables that fit an 80-column terminal; Markdown and JSON carry every column.
def _terminal_sections(p: PhaseComparison) -> list[tuple[str, list[str], list[list[str]]]]:
    def op_rows(rows, host=False):
        out = []
        for r in rows[:OPS_SHOWN]:
            b, c, d = (r.baseline_host_ms, r.candidate_host_ms, r.delta_host_ms) if host else (r.baseline_ms, r.candidate_ms, r.delta_ms)
            wall = p.wall_ms.baseline
            out.append([r.label, r.match, f"{b:.2f}", f"{c:.2f}", f"{d:+.2f}", f"{d / wall:+.1%}" if wall else "-"])
        return out

    op_head = ["operation", "match", "base", "cand", "delta", "of step"]
    out = [
        (
            f"{p.phase}: kernel categories, GPU ms per step",
            ["category", "base", "cand", "delta", "change"],
            [[r.label, f"{r.baseline_ms:.3f}", f"{r.candidate_ms:.3f}", f"{r.delta_ms:+.3f}", _pct(r.change)] for r in p.categories],
        )
    ]
    for title, rows, host in (
        ("top GPU regressions, ms per step (aligned by operation and shapes)", p.regressions, False),
        ("top GPU improvements, ms per step", p.improvements, False),
        ("top host-time regressions, host ms per step", p.host_regressions, True),
        ("top host-time improvements, host ms per step", p.host_improvements, True),
    ):
        if rows:
            out.append((f"{p.phase}: {title}", op_head, op_rows(rows, host)))
    gemms = [r for r in p.ops if r.key.startswith("linear:")]
    if gemms:
        out.append(
            (
                f"{p.phase}: linear layers aligned by in->out features, GPU ms per step",
                ["operation", "match", "ms", "kernels (baseline -> candidate)"],
                [
                    [r.label, r.match, f"{r.baseline_ms:.2f} -> {r.candidate_ms:.2f}", _kernel_diff(r.baseline_kernel, r.candidate_kernel)]
                    for r in gemms[:OPS_SHOWN]
                ],
            )
        )
    return out


LABEL_MAX_WIDTH = 24  # a first column (set-up labels, phases) keeps up to this many characters unbroken


def _label_width(head: str, rows: list[list[str]]) -> int:
    """Width the first column keeps at any terminal width: its longest label up to LABEL_MAX_WIDTH
    (18 for operation names, which are long and may fold)."""
    if head == "operation":
        return 18
    return min(max([len(head), *(len(r[0]) for r in rows if r)]), LABEL_MAX_WIDTH)


def _min_table_width(head: list[str], rows: list[list[str]]) -> int:
    """The narrowest width at which render_terminal's table keeps every number whole: numeric columns
    at their widest cell, set-up values and kernel names at 12 characters, the first column at
    _label_width; plus two spaces between columns (rich's cell padding; box=None, pad_edge=False)."""
    widths = []
    for i, col in enumerate(head):
        cells = [len(col), *(len(r[i]) for r in rows if i < len(r))]
        if i == 0:
            widths.append(_label_width(col, rows))
        elif col.startswith("kernels") or col in ("baseline", "candidate"):
            widths.append(min(max(cells), 12))
        else:
            widths.append(max(cells))
    return sum(widths) + 2 * (len(widths) - 1)


def render_terminal(report: CompareReport, console=None) -> None:
    from rich.table import Table

    from profkit.report.tables import make_console, print_stacked

    console = console or make_console()

    def table(title, head, rows, styles=None):
        if _min_table_width(head, rows) > console.width:
            print_stacked(console, title, head, rows, styles=styles)
            return
        t = Table(title=title, title_justify="left", title_style="bold", box=None, pad_edge=False)
        for i, col in enumerate(head):
            if col.startswith("kernels"):
                t.add_column(col, no_wrap=True, overflow="ellipsis", max_width=36)
            elif i == 0:
                t.add_column(col, overflow="fold", min_width=_label_width(col, rows))
            elif col in ("baseline", "candidate"):  # set-up values are text (GPU names): they may fold, the labels may not
                t.add_column(col, justify="left", overflow="fold")
            else:
                t.add_column(col, justify="left" if col in ("match", "metric", "significant") else "right", no_wrap=True)
        for i, row in enumerate(rows):
            t.add_row(*row, style=(styles or {}).get(i))
        console.print(t)

    for c in report.comparisons:
        console.rule(f"[bold]{_title(c)}")
        if c.workload_differences:
            console.print("; ".join(c.workload_differences), style="bold yellow", highlight=False)
        setup_rows = [[f.label, _setup_value(f.name, f.baseline), _setup_value(f.name, f.candidate)] for f in c.setup]
        table("Set-up", ["", "baseline", "candidate"], setup_rows, {i: "bold yellow" for i, f in enumerate(c.setup) if f.differs})

        rows: list[list[str]] = []
        styles: dict[int, str] = {}
        for p in c.phases.values():
            for m, label in ((p.wall_ms, "wall"), (p.gpu_busy_ms, "GPU busy")):
                if m.significant:
                    styles[len(rows)] = "bold red" if m.delta_ms > 0 else "bold green"
                rows.append(
                    [p.phase, label, f"{m.baseline:.2f}", f"{m.candidate:.2f}", _pct(m.change), f"+/-{m.threshold_ms:.2f}", "yes" if m.significant else "no"]
                )
        table("Steady-state steps, median ms per step", ["phase", "metric", "base", "cand", "change", "threshold", "significant"], rows, styles)
        per_token = [p for p in c.phases.values() if _tokens_differ(p)]
        if per_token:
            rows = [
                [
                    p.phase,
                    label,
                    f"{p.baseline_tokens_per_step} -> {p.candidate_tokens_per_step}",
                    f"{m.baseline_per_token_ms:.3g}",
                    f"{m.candidate_per_token_ms:.3g}",
                    _pct(m.per_token_change),
                ]
                for p in per_token
                for m, label in ((p.wall_ms, "wall"), (p.gpu_busy_ms, "GPU busy"))
            ]
            table("Per token, ms", ["phase", "metric", "tokens/step", "base", "cand", "change"], rows)
        for p in c.phases.values():
            console.print(f"[dim]{p.phase} {_counter_text(p)}[/dim]", highlight=False)
        for p in c.phases.values():
            for title, head, rows in _terminal_sections(p):
                table(title, head, rows)
        console.print(f"[bold]Verdict:[/bold] {c.verdict}", highlight=False)
        for n in c.notes + [f"{p.phase}: {p.wall_ms.reason}" for p in c.phases.values()] + [n for p in c.phases.values() for n in p.notes]:
            console.print(f"- {n}", style="dim", highlight=False)
    for n in report.unpaired + report.notes:
        console.print(f"- not compared: {n}", style="yellow", highlight=False)
