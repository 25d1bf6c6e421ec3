"""Reference figures for the traces in this folder, computed with gzip + json only (not profkit).

    python traces/external/reference_figures.py traces/external/*.json.gz

Prints one Markdown table row per window: every ProfilerStep#N of a trace, or the whole trace
(`whole`: from the first to the last complete event of any category) when it has none.

  wall ms           the window's length
  GPU busy ms       union of kernel, gpu_memcpy and gpu_memset intervals clipped to the window
  kernels launched  kernels whose runtime launch record (same correlation id) starts in the window;
                    kernels with no launch record were launched before recording began
  sync calls        cuda/hip Stream/Device/Event/Ctx synchronize, blocking cudaMemcpy/hipMemcpy,
                    hipMemcpyWithStream calls that start in the window
  graph launches    cudaGraphLaunch / cuGraphLaunch / hipGraphLaunch calls that start in the window
  GEMM ms window    GEMM kernels (as below) launched in the window (their summed duration)
  GEMM ms           whole trace: kernels whose names, before the parameter list, mark them as GEMMs
                    (cuBLAS/cuBLASLt incl. split-K reduce and GEMV, nvjet, Tensile Cijk_, cutlass
                    tensor-op, Triton _matmul_ogs, TRT-LLM bmm_); a parameter type such as
                    fbgemm_gpu::FixedDivisor does not make an embedding kernel a GEMM, nor does
                    the fbgemm_gpu namespace make its permute/bucketize kernels GEMMs; convolutions
                    (conv, fprop/dgrad/wgrad, scudnn, winograd, MIOpen igemm_fwd/bwd/wrw), and GEMM
                    kernels that a convolution op launched (the op whose External id the kernel's
                    launch call carries), are not GEMMs
"""

import gzip
import json
import re
import sys

SYNC = {
    "cudaStreamSynchronize",
    "cudaDeviceSynchronize",
    "cudaEventSynchronize",
    "cuStreamSynchronize",
    "cuCtxSynchronize",
    "cuEventSynchronize",
    "cudaMemcpy",
    "cudaMemcpy2D",
    "cudaMemcpyFromSymbol",
    "cudaMemcpyToSymbol",
    "hipStreamSynchronize",
    "hipDeviceSynchronize",
    "hipEventSynchronize",
    "hipCtxSynchronize",
    "hipMemcpy",
    "hipMemcpyWithStream",
    "hipMemcpy2D",
    "hipMemcpyDtoH",
    "hipMemcpyHtoD",
    "hipMemcpyFromSymbol",
    "hipMemcpyToSymbol",
}
GRAPH = {"cudaGraphLaunch", "cuGraphLaunch", "hipGraphLaunch"}
RUNTIME = {"cuda_runtime", "cuda_driver", "Runtime"}  # "Runtime", "Kernel", ...: PyTorch 1.8-1.9 category names
BUSY = {"kernel", "gpu_memcpy", "gpu_memset", "Kernel", "Memcpy", "Memset"}
GEMM = re.compile(r"Cijk_|_matmul_ogs|(?<!fb)gemm|f8f8bf16|gemv|splitKreduce|nvjet|cutlass.*tensorop|^bmm_", re.IGNORECASE)
# Convolutions are not GEMMs, though cuDNN, cutlass and MIOpen/CK run many as implicit GEMMs.
CONVOLUTION = re.compile(r"conv(?!ert)|fprop|dgrad|wgrad|scudnn|winograd|igemm_(fwd|bwd|wrw)", re.IGNORECASE)


# ...and a GEMM kernel that a convolution op launched (cuDNN runs 1x1 convolutions as sgemm) is the convolution.
CONVOLUTION_OP = re.compile(r"^aten::(_?convolution|conv\d|conv_|cudnn_convolution|miopen_convolution|mkldnn_convolution|_?slow_conv|thnn_conv)")


def is_gemm(kernel, op_names):
    """`kernel` (an event) by its name and the op that launched it: `op_names` maps a kernel's
    correlation id to the name of the op whose External id its runtime launch call carries."""
    head = without_parameters(kernel["name"])
    op = op_names.get((kernel.get("args") or {}).get("correlation"), "")
    return bool(GEMM.search(head)) and not CONVOLUTION.search(head) and not CONVOLUTION_OP.search(op)


def num(v):
    return float(v) if not isinstance(v, str) else float(int(v, 0)) if v.startswith("0x") else float(v)


def without_parameters(name):
    """The kernel name without its trailing parameter list '(...)'."""
    return name[: name.rfind("(")] if name.endswith(")") else name


def rows(path):
    with gzip.open(path) as f:
        doc = json.load(f)
    ev = [e for e in doc["traceEvents"] if e.get("ph") == "X" and "ts" in e and "dur" in e]
    for e in ev:
        e["ts"], e["dur"] = num(e["ts"]), num(e["dur"])
    props = doc.get("deviceProperties") or []
    gpu = (props[0].get("name") if props else "") or "(none)"
    # PyTorch 1.8-1.9 recorded ProfilerStep#N as an op ("Operator"/"cpu_op"), later ones as a user annotation
    step_cats = ("user_annotation", "cpu_op", "Operator")
    steps = sorted((e["ts"], e["ts"] + e["dur"], e["name"]) for e in ev if e.get("cat") in step_cats and re.fullmatch(r"ProfilerStep#\d+", e["name"]))
    if not steps:
        steps = [(min(e["ts"] for e in ev), max(e["ts"] + e["dur"] for e in ev), "whole")]
    runtime = [e for e in ev if e.get("cat") in RUNTIME]
    launch = {(e.get("args") or {}).get("correlation"): e["ts"] for e in runtime}
    busy = sorted((e["ts"], e["ts"] + e["dur"]) for e in ev if e.get("cat") in BUSY)
    kernels = [e for e in ev if e.get("cat") in ("kernel", "Kernel")]
    ops = {(e.get("args") or {}).get("External id"): e["name"] for e in ev if e.get("cat") in ("cpu_op", "Operator")}
    # the launch call's External id ("external id" in PyTorch 1.8-1.9) names the op that launched a kernel
    op_names = {
        (e.get("args") or {}).get("correlation"): ops.get((e.get("args") or {}).get("External id", (e.get("args") or {}).get("external id")), "")
        for e in ev
        if e.get("cat") in RUNTIME
    }
    gemm_ms = sum(e["dur"] for e in kernels if is_gemm(e, op_names)) / 1e3
    for lo, hi, name in steps:
        covered, cur_s, cur_e = 0.0, None, None
        for start, end in busy:
            s, t = max(start, lo), min(end, hi)
            if t <= s:
                continue
            if cur_e is None or s > cur_e:
                covered += (cur_e - cur_s) if cur_e is not None else 0.0
                cur_s, cur_e = s, t
            else:
                cur_e = max(cur_e, t)
        covered += (cur_e - cur_s) if cur_e is not None else 0.0
        launched = sum(1 for k in kernels if lo <= launch.get((k.get("args") or {}).get("correlation"), -1e30) < hi)
        syncs = sum(1 for r in runtime if lo <= r["ts"] < hi and r["name"] in SYNC)
        graphs = sum(1 for r in runtime if lo <= r["ts"] < hi and r["name"] in GRAPH)
        gemm_window = sum(k["dur"] for k in kernels if is_gemm(k, op_names) and lo <= launch.get((k.get("args") or {}).get("correlation"), -1e30) < hi) / 1e3
        yield gpu, name, (hi - lo) / 1e3, covered / 1e3, launched, syncs, graphs, gemm_window, gemm_ms


for path in sys.argv[1:]:
    for gpu, name, wall, busy, launched, syncs, graphs, gemm_window, gemm in rows(path):
        print(f"| `{path.rsplit('/', 1)[-1]}` | {gpu} | {name} | {wall:.3f} | {busy:.3f} | {launched} | {syncs} | {graphs} | {gemm_window:.3f} | {gemm:.3f} |")
