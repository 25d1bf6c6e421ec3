"""`profkit analyze TRACE...`: where each trace's inference time goes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)


def analyze(
    traces: list[Path] = typer.Argument(..., help="Kineto trace files (.json, .json.gz) or directories of them (e.g. traces/<run-id>)."),
    json_out: Optional[str] = typer.Option(None, "--json", help="Write the JSON report (schema profkit.analyze/1) to FILE, or '-' for stdout."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a Markdown report instead of the terminal one."),
    gpu: Optional[str] = typer.Option(None, "--gpu", help="Catalog GPU to judge bandwidth/FLOPs against (default: matched from the trace)."),
    bandwidth_gbps: Optional[float] = typer.Option(None, "--bandwidth-gbps", help="Measured DRAM bandwidth ceiling in GB/s; overrides the catalog's spec figure."),
    ceilings: Optional[Path] = typer.Option(None, "--ceilings", help="Run-results JSON with measured 'ceilings' (copy GB/s, matmul TFLOP/s) of the same GPU; MBU/MFU are then judged against them."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Parse the trace files again instead of using the parsed-trace cache."),
    hta: bool = typer.Option(False, "--hta", help="Also run HolisticTraceAnalysis' deeper analyses (temporal breakdown, idle-time cross-check, queue length). Slow: seconds per trace."),
) -> None:
    """Steps and phases, kernel categories, idle gaps and their causes, bandwidth, and a verdict per phase."""
    import sys

    from profkit.analyses.summary import analyze_trace
    from profkit.store import find_traces
    from profkit.trace import load_trace

    from profkit.analyses.workload import describe_workload

    paths, skipped = find_traces(traces)  # the run store's walker: links out of a folder are not read
    for line in skipped:
        print(f"profkit: warning: {line}", file=sys.stderr)
    analyses, workloads = [], []
    for path in paths:
        trace = load_trace(path, use_cache=not no_cache)
        analyses.append(analyze_trace(trace, _gpu_override(gpu, bandwidth_gbps, ceilings, trace)))
        workloads.append(describe_workload(trace, analyses[-1]))
    _emit(analyses, workloads, json_out, markdown)
    if hta:
        _run_hta(paths)


def _gpu_override(key, bandwidth_gbps, ceilings_path, trace):
    """The GPU to judge against: --gpu, else matched from the trace; with measured ceilings. A GPU the
    catalog does not know is judged against --bandwidth-gbps alone (no tensor peaks: MFU unknown)."""
    from profkit.errors import ProfkitError
    from profkit.hardware.catalog import GpuSpec, get_gpu, match_gpu, with_measured

    if key is None and bandwidth_gbps is None and ceilings_path is None:
        return None  # analyze_trace matches the trace's GPU itself
    if bandwidth_gbps is not None and not bandwidth_gbps > 0:
        raise ProfkitError(f"--bandwidth-gbps must be a positive number of GB/s, got {bandwidth_gbps}")
    props = trace.device_properties[0] if trace.device_properties else {}
    spec = get_gpu(key) if key else match_gpu(str(props.get("name") or ""), props.get("totalGlobalMem"), props.get("numSms"))
    peaks = {}
    if ceilings_path is not None:
        measured = _measured_ceilings(ceilings_path, props.get("name"))
        bandwidth_gbps = bandwidth_gbps if bandwidth_gbps is not None else measured.bandwidth_gbps
        peaks = measured.peak_tflops
    if spec is None:
        if bandwidth_gbps is None:
            raise ProfkitError(
                f"{trace.path}: GPU {props.get('name')!r} is not in the catalog; give --bandwidth-gbps X (its DRAM GB/s) "
                "or --gpu KEY (see `profkit estimate --help` for catalog keys)"
            )
        memory = props.get("totalGlobalMem") if isinstance(props.get("totalGlobalMem"), int) and props.get("totalGlobalMem") > 0 else 1
        sms = props.get("numSms") if isinstance(props.get("numSms"), int) else 0
        return GpuSpec("unlisted", str(props.get("name") or "unnamed GPU"), memory, float(bandwidth_gbps), dict(peaks), sms, source="measured")
    if bandwidth_gbps is None and not peaks:
        return spec
    return with_measured(spec, bandwidth_gbps=bandwidth_gbps, peak_tflops=peaks)


def _measured_ceilings(path, trace_gpu):
    from profkit.errors import ProfkitError
    from profkit.hardware.ceilings import read_ceilings

    measured = read_ceilings(path)
    if trace_gpu and measured.gpu_name and measured.gpu_name != trace_gpu:
        raise ProfkitError(f"{path}: ceilings were measured on {measured.gpu_name}, the trace ran on {trace_gpu}; give ceilings of the same GPU")
    return measured


def _emit(analyses, workloads, json_out, markdown) -> None:
    import sys

    from profkit.report import analyze_render

    for a in analyses:
        if not a.has_gpu_activity:
            print(f"profkit: warning: {a.metadata.path}: no GPU activity in the trace; GPU sections are empty", file=sys.stderr)
    if json_out:
        import orjson

        from profkit.cli.output import write_json
        from profkit.report.analysis_json import document

        write_json(orjson.dumps(document(analyses), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode() + "\n", json_out)
        if json_out == "-":
            return
    if markdown:
        sys.stdout.write(analyze_render.markdown(analyses, workloads))
    else:
        analyze_render.terminal(analyses, workloads)


def _run_hta(paths) -> None:
    from profkit.analyses.hta_bridge import hta_report

    for path in paths:
        hta_report(path)
