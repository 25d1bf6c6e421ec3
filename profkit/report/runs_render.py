"""Renderers for the `profkit runs` listing (`profkit.store.Listing`): Markdown and terminal (rich);
the JSON form is `Listing.to_dict()` (schema `profkit.runs/1`)."""

from __future__ import annotations

from pathlib import Path

from profkit.report.tables import Section, make_console, pack, print_section_table
from profkit.store import Listing, RunFilter, RunInfo, display
from profkit.store.records import PARTIAL, RUN, UNREADABLE

_COLUMNS = (
    "run id",
    "date",
    "GPU",
    "rank",
    "driver",
    "CUDA",
    "HIP",
    "torch",
    "transformers",
    "bitsandbytes",
    "precision",
    "batch",
    "mode",
    "decode tok/s",
    "TPOT ms",
    "configs",
)
#: Columns that are numbers (never wrapped).
_FIRST_NUMERIC = _COLUMNS.index("decode tok/s")
#: Columns worth a line of their own above the table when every run has the same value.
_COMMON = ("GPU", "driver", "CUDA", "HIP", "torch", "transformers", "bitsandbytes", "mode")


def _speed(values: list[float | None], digits: int = 1) -> str:
    known = sorted(v for v in values if v is not None)
    if not known:
        return "-"
    lo, hi = f"{known[0]:,.{digits}f}", f"{known[-1]:,.{digits}f}"
    return lo if lo == hi else f"{lo}-{hi}"


def _state(r: RunInfo) -> str:
    if r.state == UNREADABLE:
        return "unreadable"
    if r.kind != RUN:
        return "trace"
    ok = sum(1 for c in r.configs if c.status == "ok")
    text = f"{ok}/{len(r.configs)} ok" if r.configs else "none finished"
    return f"partial: {text}" if r.state == PARTIAL else text


def _row(r: RunInfo) -> list[str]:
    rank = f"{r.rank} of {r.world_size}" if r.rank is not None and r.world_size and r.world_size > 1 else "-"
    return [
        display(r.run_id),
        (r.created or "")[:16].replace("T", " ") or "-",
        (r.gpu_name or ("CPU" if r.device == "cpu" else "-")).replace("NVIDIA ", ""),
        rank,
        r.driver_version or "-",
        r.cuda_runtime or "-",
        r.hip_runtime or "-",
        r.torch or "-",
        r.transformers or "-",
        r.bitsandbytes or "-",
        ",".join(r.precisions) or "?",
        ",".join(map(str, r.batch_sizes)) or "?",
        ",".join(r.modes) or "?",
        _speed([c.decode_tokens_per_s for c in r.configs]),
        _speed([c.tpot_median_ms for c in r.configs]),
        _state(r),
    ]


def _summary(listing: Listing, shown: list[RunInfo], criteria: RunFilter | None) -> str:
    where = display(listing.root)
    if criteria is not None and not criteria.is_empty():
        return f"{len(shown)} of {len(listing.runs)} runs under {where} match {criteria.describe()}"
    return f"{len(shown)} runs under {where}"


def problem_lines(listing: Listing, shown: list[RunInfo]) -> list[str]:
    """What the listing could not read or use, one line each, each said once."""
    lines = [str(s) for s in listing.skipped] + list(listing.notes)
    for r in shown:
        if r.state == PARTIAL and r.state_note:
            lines.append(f"{display(r.run_id)}: partial run: {r.state_note}")
        lines += [w if display(Path(r.path).name) in w or w.startswith(display(r.run_id)) else f"{display(r.run_id)}: {w}" for w in r.warnings]
    for r in listing.results:
        lines += r.warnings
    return list(dict.fromkeys(lines))


def _visible_columns(rows: list[list[str]]) -> tuple[list[int], list[str]]:
    """Columns to show (known somewhere, and -- with several runs -- not the same for all), and the
    common values as 'label value' texts."""
    keep, common = [], []
    for i, name in enumerate(_COLUMNS):
        values = {row[i] for row in rows}
        if i > 0 and values <= {"-", "?"}:
            continue
        if len(rows) > 1 and name in _COMMON and len(values) == 1:
            common.append(f"{name} {next(iter(values))}")
            continue
        keep.append(i)
    return keep, common


def render_markdown(listing: Listing, shown: list[RunInfo], criteria: RunFilter | None = None) -> str:
    lines = ["## Runs", "", _summary(listing, shown, criteria), ""]
    if shown:
        rows = [_row(r) for r in shown]
        keep = [i for i in range(len(_COLUMNS)) if i == 0 or any(row[i] not in ("-", "?") for row in rows)]
        lines += ["| " + " | ".join(_COLUMNS[i] for i in keep) + " |", "|" + "---|" * len(keep)]
        lines += ["| " + " | ".join(row[i].replace("|", "\\|") for i in keep) + " |" for row in rows]
    problems = problem_lines(listing, shown)
    if problems:
        lines += ["", "### Warnings", ""] + [f"- {w}" for w in problems]
    return "\n".join(lines) + "\n"


def render_terminal(listing: Listing, shown: list[RunInfo], criteria: RunFilter | None = None, console=None) -> None:
    from rich.markup import escape

    console = console or make_console()
    console.print(escape(_summary(listing, shown, criteria)), highlight=False)
    if shown:
        rows = [_row(r) for r in shown]
        keep, common = _visible_columns(rows)
        for line in pack(common, console.width - 6, sep=" · "):
            console.print(f"all: {escape(line)}", highlight=False)
        numeric_from = next((n for n, i in enumerate(keep) if i >= _FIRST_NUMERIC), len(keep))
        section = Section("", [_COLUMNS[i] for i in keep], [[row[i] for i in keep] for row in rows], right_align_from=numeric_from)
        print_section_table(console, section)
    for line in problem_lines(listing, shown):
        console.print(f"- {escape(line)}", style="yellow", highlight=False)
