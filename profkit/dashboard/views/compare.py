"""Compare: two traces side by side — set-up diff, step changes against noise, op-aligned diff, verdict."""

from functools import partial
from typing import cast

import streamlit as st

from profkit.analyses.compare import CompareReport
from profkit.analyses.compare.document import SIGNIFICANCE_RULE
from profkit.dashboard import charts, data, state, widgets
from profkit.report.compare_render import render_markdown

URL_KEY = "compare.url"


def _text(value, name: str = "") -> str:
    if value is None:
        return "unknown"
    if name == "memory_bytes" and isinstance(value, (int, float)):
        return f"{value / 2**30:.1f} GiB"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _differs(f) -> str:
    if f.differs:
        return "differs"
    if (f.baseline is None) != (f.candidate is None):
        return "unknown on one side"
    return ""


root = widgets.require_root()
st.title("Compare")
refs = data.trace_refs(root) + list(state.uploads())
if len(refs) < 2:
    st.info("Comparing needs two traces: record runs with `profkit run`, or upload traces on the Runs page.")
    st.stop()
linked = state.from_url(("a", "b"), URL_KEY)
if linked:  # a link was opened: compare its pair
    state.set_compare(*linked)
    for key in ("compare.a", "compare.b"):
        st.session_state.pop(key, None)
pair = state.compare_pair() or data.default_pair(root) or (refs[0], refs[1])
left, right = st.columns(2)
with left:
    a = widgets.trace_picker(root, "A (baseline)", pair[0], key="compare.a")
with right:
    b = widgets.trace_picker(root, "B (candidate)", pair[1], key="compare.b")
repeats = st.multiselect(
    "Repeats of A (same set-up, recorded again): their spread joins the noise band",
    [r for r in refs if r not in (a, b)],
    default=[r for r in st.session_state.get("compare.repeats_kept", []) if r in refs and r not in (a, b)],
    format_func=data.ref_label,
    key="compare.repeats",
)
st.session_state["compare.repeats_kept"] = list(repeats)
assert a is not None and b is not None, "there are two traces to pick from"
state.set_compare(a, b)
if a == b:
    st.info("Pick two different traces (or give A a repeat to see the noise floor).")
    st.stop()

c = widgets.load_or_stop(data.comparison, root, a, b, tuple(repeats))
state.to_url(URL_KEY, a=a, b=b)

st.subheader("Verdict")
st.info(c.verdict)
for diff in c.workload_differences:
    st.warning(f"Workloads differ — {diff}: per-step times are compared per token too.")
for note in c.notes:
    st.caption(note)

st.subheader("Set-up")
only_diffs = st.toggle("Only what differs", value=False, key="compare.only_diffs", help="Rows known on one side only stay: unknown is not the same.")
setup = [f for f in c.setup if _differs(f) or not only_diffs]
widgets.table(
    [dict(label=f.label, kind=f.kind, A=_text(f.baseline, f.name), B=_text(f.candidate, f.name), differs=_differs(f)) for f in setup],
    {"label": "field", "kind": "kind", "A": f"A: {c.baseline.label}", "B": f"B: {c.candidate.label}", "differs": ""},
)

st.subheader("Step changes")
widgets.plot(charts.compare_steps(c))
st.caption("Dots: each steady step; black bar: the median; grey band: A's median +/- the significance threshold; * in a panel title: significant.")
rows = []
for phase, pc in c.phases.items():
    for m in (pc.wall_ms, pc.gpu_busy_ms):
        rows.append(
            dict(
                phase=phase,
                metric="wall" if m.metric == "wall_ms" else "GPU busy",
                A=m.baseline,
                B=m.candidate,
                delta=m.delta_ms,
                change=m.change,
                threshold=m.threshold_ms,
                significant="yes" if m.significant else "no",
                A_tok=m.baseline_per_token_ms,
                B_tok=m.candidate_per_token_ms,
                reason=m.reason,
            )
        )
widgets.table(
    rows,
    {
        "phase": "phase",
        "metric": "metric",
        "A": "A ms",
        "B": "B ms",
        "delta": "delta ms",
        "change": ("change", "percent"),
        "threshold": "noise threshold ms",
        "significant": "significant",
        "A_tok": "A ms/token",
        "B_tok": "B ms/token",
        "reason": "why",
    },
)

st.caption(f"A change is {SIGNIFICANCE_RULE}.")

phase = st.radio("Phase", list(c.phases), index=list(c.phases).index("decode") if "decode" in c.phases else 0, horizontal=True, key="compare.phase")
pc = c.phases[phase]
if pc.counters:
    widgets.table(pc.counters, {"label": "per step", "baseline": ("A", "%.2f"), "candidate": ("B", "%.2f"), "delta": ("delta", "%+.2f")})
for note in pc.notes:
    st.caption(note)

st.subheader(f"Op-aligned diff ({phase}, per step)")
ops_columns = {  # GPU ms (sum of activity durations) and host ms (the calls' own time) per step
    "label": "operation",
    "category": "category",
    "match": "match",
    "baseline_ms": ("A GPU ms", "%.3f"),
    "candidate_ms": ("B GPU ms", "%.3f"),
    "delta_ms": ("delta GPU ms", "%+.3f"),
    "change": ("GPU change", "percent"),
    "baseline_host_ms": ("A host ms", "%.2f"),
    "candidate_host_ms": ("B host ms", "%.2f"),
    "delta_host_ms": ("delta host ms", "%+.2f"),
    "baseline_calls": ("A calls", "%.0f"),
    "candidate_calls": ("B calls", "%.0f"),
    "baseline_op": "A op",
    "candidate_op": "B op",
}
SORTS = {
    "largest change, GPU or host": lambda r: -max(abs(r.delta_ms), abs(r.delta_host_ms)),
    "GPU time change": lambda r: -abs(r.delta_ms),
    "host time change": lambda r: -abs(r.delta_host_ms),
}
order = cast(str, st.radio("Sort by", list(SORTS), horizontal=True, key="compare.sort"))  # Streamlit's stubs type it None
widgets.table(sorted(pc.ops, key=SORTS[order]), ops_columns)
with st.expander("By kernel category"):
    widgets.table(pc.categories, {k: v for k, v in ops_columns.items() if not k.endswith(("_calls", "_op", "host_ms"))})

st.download_button(
    "Download this comparison as Markdown (as `profkit compare --markdown`)",
    partial(render_markdown, CompareReport([c])),
    file_name="comparison.md",
    mime="text/markdown",
)
