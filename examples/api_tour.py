"""profkit from Python: the bundled samples analysed, compared, turned into advice and DataFrames.

    python examples/api_tour.py [TRACES_DIR]      # default: the bundled traces/samples

Everything here is what the command line shows, as data: `to_dict()` is the `--json` document,
`to_frame()` a pandas DataFrame.
"""

from __future__ import annotations

import sys
from pathlib import Path

import profkit

SAMPLES = Path(__file__).resolve().parent.parent / "traces" / "samples"


def main(samples: Path) -> None:
    bf16 = samples / "h200_llama3-8b_bf16_b1.pt.trace.json.gz"
    int8 = samples / "h200_llama3-8b_int8_b1.pt.trace.json.gz"

    # One trace: steps, phases, verdicts.
    a = profkit.analyze(int8)
    decode = a.phases["decode"]
    print(
        f"int8 decode: {decode.stats.wall_ms:.1f} ms per token, GPU busy {decode.stats.gpu_busy_ms:.2f} ms, "
        f"{decode.stats.sync_calls:.0f} syncs per token -> {decode.verdict.bound}-bound"
    )
    steps = a.to_frame()
    print(f"{len(steps)} steps; slowest decode step: {steps[steps.phase == 'decode'].wall_ms.max():.1f} ms")
    print(a.categories_frame("decode")[["label", "per_step_ms", "share"]].head(4).to_string(index=False))

    # Two traces: what changed, beyond noise.
    report = profkit.compare(bf16, int8)
    changes = report.to_frame()
    wall = changes[(changes.phase == "decode") & (changes.metric == "wall_ms")].iloc[0]
    print(f"bf16 -> int8 decode wall: {wall.baseline_ms:.1f} -> {wall.candidate_ms:.1f} ms ({wall.change:+.0%}, significant: {wall.significant})")

    # The runs in the folder, with their versions and un-profiled speeds.
    listing = profkit.runs(samples, gpu="H200")
    print(listing.to_frame()[["run_id", "driver_version", "precision", "batch_size", "decode_tokens_per_s"]].to_string(index=False))

    # Advice for the A100 40GB, and what it rests on.
    advice = profkit.recommend(samples, target_gpu="a100-40gb-sxm", tpot_slo_ms=60)
    for r in advice:
        print(f"{r.rank}. {r.change} ({r.expected_gain.low:.1f}-{r.expected_gain.high:.1f}x, {'measured' if r.measured else 'modelled'})")

    # What fits before running anything.
    est = profkit.estimate(gpu="a100-40gb-sxm", precision="int8", context_len=8192)
    print(
        f"int8 Llama 3 8B on {est.gpu_name}: weights {est.weights_bytes / 2**30:.2f} GiB, "
        f"headroom {est.headroom_bytes / 2**30:.1f} GiB, max batch {est.max_batch} at 8k tokens"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES)
