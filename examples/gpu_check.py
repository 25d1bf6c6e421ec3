"""GPU check for `profkit run`: the full-size Llama 3 8B on random weights, in one run folder.

    python examples/gpu_check.py [--out traces] [--run-id gpu-check] [--budget-s 600]

The plan (`PLAN`), each step one `profkit run` process with its own timeout, resuming into the same
run folder:

  1. int8 (bitsandbytes) / fp16 / bf16 x batch 1 and 16, eager;
  2. bf16 x batch 1 and 16, compiled (static KV cache + torch.compile, CUDA graphs);
  3. int8wo (torchao int8 weight-only) x batch 1 and 16, compiled;
  4. fp8 (torchao float8, per row) x batch 1 and 16, compiled (Ada/Hopper or newer).

A step that runs past its timeout gets Ctrl-C (SIGINT: the sweep marks the running configuration
interrupted and keeps the finished ones), then SIGKILL 20 s later; the next step resumes. The
timeouts never add up to more than --budget-s (600 s: the 10 minutes an H200 check is given).

Prints, per configuration: decode tokens/s, TPOT and MBU over wall time (bytes per decode step from
the configuration's trace as `profkit analyze` models them, over the un-profiled TPOT, against the
GPU's datasheet bandwidth), and writes `<run>/gpu_check_results.json`. Needs an NVIDIA GPU with
~24 GB free. Exit code 0 when every configuration is ok, 1 when any is not, 2 without a GPU.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RESULTS_FILE = "gpu_check_results.json"
DEFAULT_BUDGET_S = 600
KILL_GRACE_S = 20


@dataclass(frozen=True)
class Step:
    """One `profkit run` of the plan."""

    name: str
    precisions: tuple[str, ...]
    modes: tuple[str, ...]
    timeout_s: int
    """Wall-clock limit of this step (model load, compile, measurement, trace export)."""
    batch_sizes: tuple[int, ...] = (1, 16)


PLAN = (
    Step("eager int8/fp16/bf16", ("int8", "fp16", "bf16"), ("eager",), 180),
    Step("compiled bf16", ("bf16",), ("compiled",), 140),
    Step("compiled int8wo", ("int8wo",), ("compiled",), 140),
    Step("compiled fp8", ("fp8",), ("compiled",), 140),
)
"""What the check runs, in order; the timeouts add up to DEFAULT_BUDGET_S."""
# Reference decode step times (ms) from shared traces, for orientation only (H200 eager, H100 compiled).
REFERENCE_TPOT_MS = {"bf16_b1_eager": 38.7, "int8_b1_eager": 133.2, "bf16_b1_compiled": 11.5}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="traces", help="folder for the run folder (default: traces)")
    p.add_argument("--run-id", default=None, help="run folder name (default: gpu-check-<time>)")
    p.add_argument("--prompt-len", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=32, help="tokens per timed generation (default 32)")
    p.add_argument("--profile-steps", type=int, default=5, help="decode tokens traced (default 5)")
    p.add_argument("--budget-s", type=int, default=DEFAULT_BUDGET_S, help=f"wall-clock limit of the whole plan (default {DEFAULT_BUDGET_S})")
    p.add_argument("--model-config", default="llama-3-8b", help="random-weight shape (default llama-3-8b; tiny for a dry run)")
    p.add_argument("--device", default="cuda", help="cuda (default), or cpu for a dry run of the plan with --model-config tiny")
    args = p.parse_args(argv)
    args.run_id = args.run_id or time.strftime("gpu-check-%Y%m%d-%H%M%S")
    return args


def run_commands(args: argparse.Namespace, plan=PLAN) -> list[tuple[Step, list[str], int]]:
    """(step, `profkit run` command line, timeout s) for each step; every step after the first resumes
    the same run folder. Timeouts are cut so that together they stay within --budget-s."""
    left, out = args.budget_s, []
    for i, step in enumerate(plan):
        cmd = [
            sys.executable,
            "-m",
            "profkit",
            "run",
            "--random-weights",
            "--model-config",
            args.model_config,
            "--device",
            args.device,
            "--precisions",
            ",".join(step.precisions),
            "--mode",
            ",".join(step.modes),
            "--batch-sizes",
            ",".join(map(str, step.batch_sizes)),
            "--prompt-len",
            str(args.prompt_len),
            "--new-tokens",
            str(args.new_tokens),
            "--profile-steps",
            str(args.profile_steps),
            "--out",
            args.out,
            "--run-id",
            args.run_id,
        ] + (["--resume"] if i else [])
        timeout = max(0, min(step.timeout_s, left))
        left -= timeout
        out.append((step, cmd, timeout))
    return out


def run_step(cmd: list[str], timeout_s: int) -> str:
    """Run one step; "ok", "failed (exit N)", "timed out" or "skipped (no time left)"."""
    if timeout_s <= 0:
        return "skipped (no time left)"
    proc = subprocess.Popen(cmd)
    try:
        rc = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # the sweep keeps what finished and marks the running one interrupted
        try:
            proc.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return "timed out"
    return "ok" if rc == 0 else f"failed (exit {rc})"


def summary_rows(run_dir: Path) -> list[dict]:
    """Per configuration of the run folder: status, decode tok/s and TPOT (un-profiled, from the
    manifest) and MBU over wall time = the trace's modelled bytes per decode step / TPOT / the
    GPU's bandwidth ("unknown" with the reason where it cannot be known)."""
    from profkit.analyses.summary import analyze_path
    from profkit.hardware.catalog import match_gpu
    from profkit.store.layout import MANIFEST_FILE

    manifest = json.loads((run_dir / MANIFEST_FILE).read_text())
    env = manifest.get("environment") or {}
    gpu = match_gpu(env["gpu_name"], env.get("gpu_total_mem_bytes")) if env.get("gpu_name") else None
    rows = []
    for c in manifest.get("configs", []):
        t = c.get("timing") or {}
        row = {
            "config": c["name"],
            "status": c["status"],
            "decode_tokens_per_s": t.get("decode_tokens_per_s"),
            "tpot_ms": t.get("tpot_median_ms"),
            "bytes_per_step": None,
            "mbu_wall": None,
            "mbu_note": "",
        }
        if c["status"] != "ok" or not c.get("trace_file"):
            row["mbu_note"] = c.get("error") or c["status"]
        else:
            decode = analyze_path(run_dir / c["trace_file"]).phases.get("decode")
            row["bytes_per_step"] = decode.bandwidth.bytes_per_step if decode and decode.bandwidth else None
            row.update(_mbu(row["bytes_per_step"], row["tpot_ms"], gpu))
        rows.append(row)
    return rows


def _mbu(bytes_per_step: float | None, tpot_ms: float | None, gpu) -> dict:
    if gpu is None:
        return {"mbu_note": "unknown: no GPU bandwidth (a CPU run, or a GPU missing from the catalog)"}
    if not bytes_per_step or not tpot_ms:
        return {"mbu_note": "unknown: the trace has no bytes per decode step"}
    mbu = bytes_per_step / (tpot_ms / 1e3) / (gpu.bandwidth_gbps * 1e9)
    if mbu > 1.0:
        return {"mbu_note": f"unknown: modelled bytes / TPOT exceed {gpu.name}'s {gpu.bandwidth_gbps:,.0f} GB/s (the byte model does not fit)"}
    return {"mbu_wall": mbu, "mbu_note": f"of {gpu.name}'s {gpu.bandwidth_gbps:,.0f} GB/s"}


def format_summary(rows: list[dict]) -> str:
    """The summary as aligned text, one line per configuration."""

    def num(v, spec):
        return "-" if v is None else format(v, spec)

    table = [("config", "status", "decode tok/s", "TPOT ms", "GB/step", "MBU (wall)", "")]
    for r in rows:
        table.append(
            (
                r["config"],
                r["status"],
                num(r["decode_tokens_per_s"], ",.1f"),
                num(r["tpot_ms"], ".2f"),
                num(r["bytes_per_step"] / 1e9 if r["bytes_per_step"] else None, ".2f"),
                num(r["mbu_wall"], ".1%"),
                r["mbu_note"],
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("gpu_check: no CUDA GPU visible; this script checks `profkit run` on a GPU machine", file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    steps = []
    for step, cmd, timeout_s in run_commands(args):
        print(f"[{time.perf_counter() - t0:6.1f} s] {step.name} (timeout {timeout_s} s): {' '.join(cmd[3:])}", flush=True)
        steps.append({"step": step.name, "timeout_s": timeout_s, "outcome": run_step(cmd, timeout_s)})
        print(f"[{time.perf_counter() - t0:6.1f} s] {step.name}: {steps[-1]['outcome']}", flush=True)
    run_dir = Path(args.out) / args.run_id
    if not (run_dir / "manifest.json").is_file():
        print(f"gpu_check: no run folder at {run_dir}: every step failed before the sweep started", file=sys.stderr)
        return 1
    rows = summary_rows(run_dir)
    print(format_summary(rows))
    not_ok = [r["config"] for r in rows if r["status"] != "ok"]
    from profkit.capture.files import atomic_write_json

    atomic_write_json(
        run_dir / RESULTS_FILE,
        {
            "run_dir": str(run_dir),
            "wall_s": time.perf_counter() - t0,
            "steps": steps,
            "configs": rows,
            "not_ok": not_ok,
            "reference_tpot_ms": REFERENCE_TPOT_MS,
        },
    )
    print(f"{len(rows)} configurations in {time.perf_counter() - t0:.0f} s; run folder {run_dir}; not ok: {', '.join(not_ok) or 'none'}")
    return 1 if not_ok else 0


if __name__ == "__main__":
    sys.exit(main())
