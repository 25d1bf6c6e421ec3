"""Renderers for the `profkit runs` listing (`profkit.analyses.runs.RunInfo`): JSON dict (schema
`profkit.runs/1`), Markdown and terminal (rich)."""

from __future__ import annotations

from dataclasses import asdict

from profkit.analyses.runs import RunFilter, RunInfo

SCHEMA = "profkit.runs/1"
_COLUMNS = ("run id", "date", "GPU", "driver", "CUDA", "torch", "transformers", "bitsandbytes", "precisions", "batch sizes", "modes", "configs")


def runs_to_dict(runs: list[RunInfo], traces_dir, criteria: RunFilter | None = None, total: int | None = None) -> dict:
    return {
        "schema": SCHEMA,
        "traces_dir": str(traces_dir),
        "filter": {k: v for k, v in (asdict(criteria) if criteria else {}).items() if v is not None},
        "total_runs": len(runs) if total is None else total,
        "runs": [_run(r) for r in runs],
    }


def _run(r: RunInfo) -> dict:
    d = asdict(r)
    d.update(precisions=r.precisions, batch_sizes=r.batch_sizes, prompt_lens=r.prompt_lens, modes=r.modes)
    return d


def _row(r: RunInfo) -> list[str]:
    ok = sum(1 for c in r.configs if c.status == "ok")
    configs = f"{ok}/{len(r.configs)} ok" if r.kind == "run" else "trace"
    return [
        r.run_id,
        (r.created or "")[:16].replace("T", " ") or "-",
        (r.gpu_name or "-").replace("NVIDIA ", ""),
        r.driver_version or "-",
        r.cuda_runtime or "-",
        r.torch or "-",
        r.transformers or "-",
        r.bitsandbytes or "-",
        ",".join(r.precisions) or "?",
        ",".join(map(str, r.batch_sizes)) or "?",
        ",".join(r.modes) or "?",
        configs,
    ]


def _summary(runs: list[RunInfo], traces_dir, criteria: RunFilter | None, total: int | None) -> str:
    total = len(runs) if total is None else total
    if criteria is not None and not criteria.is_empty():
        return f"{len(runs)} of {total} runs under {traces_dir} match {criteria.describe()}"
    return f"{len(runs)} runs under {traces_dir}"


def render_markdown(runs: list[RunInfo], traces_dir, criteria: RunFilter | None = None, total: int | None = None) -> str:
    lines = ["## Runs", "", _summary(runs, traces_dir, criteria, total), ""]
    if runs:
        lines += ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _row(r)) + " |" for r in runs]
    warnings = [w for r in runs for w in r.warnings]
    if warnings:
        lines += ["", "### Warnings", ""] + [f"- {w}" for w in warnings]
    return "\n".join(lines) + "\n"


def render_terminal(runs: list[RunInfo], traces_dir, criteria: RunFilter | None = None, total: int | None = None, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    console.print(_summary(runs, traces_dir, criteria, total), highlight=False)
    if runs:
        rows = [_row(r) for r in runs]
        # Columns nobody knows (e.g. torch for traces without a manifest) only take room.
        keep = [i for i in range(len(_COLUMNS)) if i == 0 or any(row[i] not in ("-", "?") for row in rows)]
        table = Table(box=None, pad_edge=False)
        for i in keep:
            table.add_column(_COLUMNS[i], overflow="fold", min_width=12 if i == 0 else None)
        for r, row in zip(runs, rows):
            table.add_row(*(row[i] for i in keep), style="yellow" if r.warnings else None)
        console.print(table)
    for r in runs:
        for w in r.warnings:
            console.print(f"- {r.run_id}: {w}", style="yellow", highlight=False)
