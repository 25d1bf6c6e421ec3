"""Recommend: ranked changes with their evidence, and a what-if panel driven by `profkit estimate`."""

from functools import partial
from typing import cast

import pandas as pd
import streamlit as st

from profkit.analyses.estimate import DEFAULT_CONTEXT_LEN, PRECISIONS, estimate_notes
from profkit.analyses.recommend import DEFAULT_TARGET_GPU, RecommendConfig
from profkit.dashboard import charts, data, state, widgets
from profkit.hardware.catalog import GPU_CATALOG
from profkit.models import LLAMA_CONFIGS
from profkit.report.estimate_render import estimate_rows
from profkit.report.recommend_render import KIND_LABELS

GPU_KEYS = list(GPU_CATALOG)


def _gpu_name(key: str) -> str:
    return GPU_CATALOG[key].name


root = widgets.require_root()
st.title("Recommend")

# ---- target --------------------------------------------------------------------------------------
c = st.columns([2, 1, 1, 2])
# cast: Streamlit's stubs type a selectbox over a list of str as None (their Sequence[Never] overload wins)
target = cast(str, c[0].selectbox("Target GPU", GPU_KEYS, index=GPU_KEYS.index(DEFAULT_TARGET_GPU), format_func=_gpu_name, key="recommend.gpu"))
context_len = c[1].number_input("Context length (tokens)", min_value=1, max_value=1_048_576, value=DEFAULT_CONTEXT_LEN, step=1024, key="recommend.context")
slo = c[2].number_input("TPOT target ms (0 = none)", min_value=0.0, value=0.0, step=5.0, key="recommend.slo")
held = list(state.uploads())
chosen_uploads = c[3].multiselect("Also use uploaded traces", held, format_func=data.ref_label, key="recommend.uploads") if held else []

inputs = widgets.load_or_stop(data.recommend_inputs, root, tuple(chosen_uploads))
config = widgets.load_or_stop(lambda: RecommendConfig(context_len=int(context_len), tpot_slo_ms=float(slo) or None))
recs = widgets.load_or_stop(data.recommendations, inputs, target, config)
for note in inputs.set_aside:
    st.warning(note)
with st.expander(f"Evidence read: {len(inputs.configs)} timed configurations, {len(inputs.traces)} traces of {inputs.model.name}"):
    for source in inputs.sources:
        st.caption(source)
    for note in inputs.notes:
        st.caption(note)

st.subheader(f"Ranked recommendations for {_gpu_name(target)} at {int(context_len):,} tokens")
if not recs:
    st.info(recs.nothing)
for r in recs:
    with st.container(border=True):
        st.markdown(f"#### {r.rank}. {r.change}")
        g = r.expected_gain
        gain = f"{g.low:.1f}x" if abs(g.high - g.low) < 0.05 else f"{g.low:.1f}-{g.high:.1f}x"
        cols = st.columns(4)
        cols[0].metric(f"expected gain ({g.metric})", gain, help=g.text)
        cols[1].metric("basis", "measured" if r.measured else g.basis)
        cols[2].metric("confidence", r.confidence, help=r.confidence_reason)
        cols[3].metric("kind", KIND_LABELS.get(r.kind, r.kind))
        st.markdown(r.why)
        st.caption(g.text)
        with st.expander(f"Evidence ({len(r.evidence)})", expanded=r.rank == 1):
            for e in r.evidence:
                st.markdown(f"- {e.text} — *{e.source}* ({'measured' if e.measured else 'modelled'})")
        st.markdown("**How**")
        st.code("\n".join(r.how), language=None)
        st.caption(f"Confidence {r.confidence}: {r.confidence_reason}")
        if r.target.get("scaling"):
            st.caption(r.target["scaling"])

if recs:
    st.download_button(
        "Download as Markdown (as `profkit recommend --markdown`)",
        partial(data.recommendations_markdown, recs),
        file_name="recommendations.md",
        mime="text/markdown",
    )

# ---- what-if -------------------------------------------------------------------------------------
st.subheader("What if: memory and speed on another set-up")
selected = st.query_params.get("trace") or state.selected()
workload = widgets.or_none(data.workload, root, selected) if selected else None
default_precision = workload.precision if workload is not None and workload.precision in PRECISIONS else "bf16"
default_batch = workload.batch_size if workload is not None and workload.batch_size else 1
precisions = list(PRECISIONS)
models = list(LLAMA_CONFIGS)
w = st.columns(5)
wf_model = w[0].selectbox("Model", models, index=models.index(inputs.model.name) if inputs.model.name in models else 0, key="whatif.model")
wf_gpu = w[1].selectbox("GPU", GPU_KEYS, index=GPU_KEYS.index(target), format_func=_gpu_name, key="whatif.gpu")
wf_precision = cast(str, w[2].selectbox("Precision", precisions, index=precisions.index(default_precision), key="whatif.precision"))
wf_batch = w[3].number_input("Batch", min_value=1, max_value=4096, value=int(default_batch), key="whatif.batch")
wf_context = w[4].number_input("Context length", min_value=1, max_value=1_048_576, value=int(context_len), step=1024, key="whatif.context")

est = widgets.load_or_stop(data.what_if, wf_model, wf_gpu, wf_precision, int(wf_context), int(wf_batch))
m = st.columns(5)
m[0].metric("fits in memory", "yes" if est.fits else "NO", help=f"total {est.total_bytes / 2**30:.2f} GiB of {est.memory_bytes / 2**30:.2f} GiB")
m[1].metric("headroom after weights", f"{est.headroom_bytes / 2**30:.1f} GiB")
m[2].metric("free after KV cache", f"{est.free_bytes / 2**30:.1f} GiB")
m[3].metric(f"max batch at {est.context_len:,} tokens", f"{est.max_batch}")
m[4].metric(
    "modelled decode tok/s (roofline)", f"{est.decode_tokens_per_s_ideal_aggregate:,.0f}", help=f"{est.decode_bound}-bound; all {est.batch_size} sequences"
)
for warning in est.warnings:
    st.warning(warning)

measured = data.measured_configs(inputs, wf_precision, int(wf_batch))
bars = [{"label": f"modelled: roofline on {est.gpu_name}", "tokens_per_s": est.decode_tokens_per_s_ideal_aggregate, "kind": "ideal"}]
bars += [{"label": f"measured: {cfg.label} on {cfg.gpu_name}", "tokens_per_s": cfg.decode_tokens_per_s, "kind": "measured"} for cfg in measured]
widgets.plot(charts.estimate_vs_measured(bars))
if not measured:
    st.caption(f"No timed run of {wf_precision} at batch {wf_batch} in the evidence to set beside the model.")
for column, (section, rows) in zip(st.columns(2), estimate_rows(est)):
    with column:
        st.markdown(f"**{section}** (as `profkit estimate` prints it)")
        st.table(pd.DataFrame([(label.strip(), value) for label, value in rows], columns=["quantity", "value"]).set_index("quantity"))
for note in estimate_notes(est)[len(est.warnings) :]:
    st.caption(note)
