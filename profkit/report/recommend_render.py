"""Renderers for `profkit.analyses.recommend`: JSON (a list), Markdown and terminal (rich).

All three show the same recommendations in the same order; the JSON schema is documented in
docs/recommend-json.md. The header (what the recommendations are for) comes from `report_header`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from profkit.analyses.recommend import Recommendation, Recommendations

KIND_LABELS = {"precision": "Precision", "batch": "Batch size", "launch_overhead": "Launch overhead"}


@dataclass(frozen=True)
class ReportHeader:
    """What the recommendations are for; shown above them in the terminal and Markdown."""

    model: str
    target_gpu: str
    context_len: int
    context_note: str  # e.g. "the default; the measurements used 176"
    tpot_slo_ms: float | None
    ttft_slo_ms: float | None
    sources: tuple[str, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    set_aside: tuple[str, ...] = field(default_factory=tuple)  # evidence left out (the CPU, other models) and why
    nothing: str = ""  # why there is nothing to recommend (shown when there is no recommendation)


def report_header(result: Recommendations, context_given: bool) -> ReportHeader:
    """The header of `result`; `context_given`: the user chose the context length."""
    used = f"the measurements used {', '.join(map(str, result.measured_context_lens))}" if result.measured_context_lens else ""
    note = "given" if context_given else "the default: give --context-len for yours"
    return ReportHeader(
        model=result.model,
        target_gpu=result.target_gpu,
        context_len=result.config.context_len,
        context_note="; ".join(x for x in (note, used) if x),
        tpot_slo_ms=result.config.tpot_slo_ms,
        ttft_slo_ms=result.config.ttft_slo_ms,
        sources=tuple(result.sources),
        notes=tuple(result.notes),
        set_aside=tuple(result.set_aside),
        nothing=result.nothing,
    )


# ---- JSON ------------------------------------------------------------------------------------------
def recommendations_to_json(recs: Recommendations) -> list[dict]:
    """`profkit recommend --json`: a list, best first (docs/recommend-json.md)."""
    return [r.to_dict() for r in recs]


# ---- shared text -------------------------------------------------------------------------------------
def header_lines(h: ReportHeader) -> list[str]:
    slo = []
    if h.tpot_slo_ms is not None:
        slo.append(f"TPOT p90 <= {h.tpot_slo_ms:g} ms")
    if h.ttft_slo_ms is not None:
        slo.append(f"TTFT <= {h.ttft_slo_ms:g} ms")
    lines = [
        f"{h.model} on {h.target_gpu}, context {h.context_len:,} tokens ({h.context_note})",
        "latency targets: " + (", ".join(slo) if slo else "none (give --tpot-slo-ms / --ttft-slo-ms)"),
        "from: " + (", ".join(h.sources) or "nothing usable"),
    ]
    return lines + [f"note: {n}" for n in h.notes] + [f"note: {n}" for n in h.set_aside]


def gain_line(r: Recommendation) -> str:
    g = r.expected_gain
    rng = f"{g.low:.1f}x" if abs(g.high - g.low) < 0.05 else f"{g.low:.1f}-{g.high:.1f}x"
    return f"{rng} {g.metric} ({g.basis}) -- {g.text}"


# ---- Markdown --------------------------------------------------------------------------------------
def render_markdown(recs: Recommendations, header: ReportHeader) -> str:
    """A Markdown section: the header, then one subsection per recommendation, best first."""
    lines = ["## Recommendations", ""]
    lines += [f"- {line}" for line in header_lines(header)]
    if not recs:
        lines += ["", header.nothing]
    for r in recs:
        lines += [
            "",
            f"### {r.rank}. {KIND_LABELS.get(r.kind, r.kind)}: {r.change}",
            "",
            f"**Expected gain:** {gain_line(r)}  ",
            f"**Confidence:** {r.confidence} -- {r.confidence_reason}  ",
            f"**Measured:** {'yes' if r.measured else 'no (modelled)'}",
            "",
            f"**Why.** {r.why}",
            "",
            "**Evidence:**",
            "",
        ]
        lines += [f"- {'' if e.measured else '(modelled) '}{e.text}" + (f" _[{e.source}]_" if e.source else "") for e in r.evidence]
        if r.how:
            lines += ["", "**How:**", ""]
            lines += [f"- `{h}`" for h in r.how]
        if r.target.get("scaled_from"):
            lines += ["", f"_Scaling: {r.target['scaling']}._"]
    return "\n".join(lines) + "\n"


# ---- terminal --------------------------------------------------------------------------------------
def render_terminal(recs: Recommendations, header: ReportHeader, console=None) -> None:
    """Print the recommendations with rich, best first."""
    from profkit.report.tables import make_console

    console = console or make_console()
    console.print("[bold]Recommendations[/bold]", highlight=False)
    for line in header_lines(header):
        console.print(f"  {_escape(line)}", style="dim", highlight=False)
    if not recs:
        console.print(_escape(header.nothing), highlight=False)
    style = {"high": "bold green", "medium": "yellow", "low": "red"}
    for r in recs:
        console.print()
        console.print(f"[bold]{r.rank}. [{KIND_LABELS.get(r.kind, r.kind)}][/bold] {_escape(r.change)}", highlight=False)
        console.print(f"   [cyan]gain[/cyan]       {_escape(gain_line(r))}", highlight=False)
        console.print(
            f"   [cyan]confidence[/cyan] [{style.get(r.confidence, '')}]{r.confidence}[/] -- {_escape(r.confidence_reason)}"
            f"{'' if r.measured else ' (gain modelled, not measured)'}",
            highlight=False,
        )
        console.print(f"   [cyan]why[/cyan]        {_escape(r.why)}", highlight=False)
        console.print("   [cyan]evidence[/cyan]", highlight=False)
        for e in r.evidence:
            tag = "" if e.measured else "[magenta](modelled)[/magenta] "
            src = f" [dim]\\[{e.source}][/dim]" if e.source else ""
            console.print(f"     - {tag}{_escape(e.text)}{src}", highlight=False)
        if r.how:
            console.print("   [cyan]how[/cyan]", highlight=False)
            for h in r.how:
                console.print(f"     $ {_escape(h)}", highlight=False)
        if r.target.get("scaled_from"):
            console.print(f"   [dim]scaling: {_escape(r.target['scaling'])}[/dim]", highlight=False)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
