"""Background sampling of the GPU (NVML) and of this process's memory while a sweep runs.

Samples are taken every `interval_s` (20 Hz by default) on a daemon thread and stamped with
`time.time()`, the same Unix clock that Kineto's `baseTimeNanoseconds` anchors trace timestamps to:
`t_unix_s = (ts_us * 1e3 + baseTimeNanoseconds) / 1e9` lines a trace event up with the samples.

NVML's utilization figures are averages over the driver's own sample period (1/6 s to 1 s
depending on the GPU), so single samples are coarse. Without NVML (a CPU machine) only process
RSS is sampled and the GPU columns stay empty.

The sweep appends the samples taken so far to `nvml_samples.csv` after every configuration
(`Sampler.append_csv`): rows already in the file -- a resumed run's earlier configurations -- stay.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from dataclasses import astuple, dataclass
from pathlib import Path

from profkit.capture.files import atomic_write_text
from profkit.errors import ProfkitError

SAMPLE_COLUMNS = ("t_unix_s", "gpu_util_pct", "mem_util_pct", "mem_used_bytes", "sm_clock_mhz", "power_w", "rss_bytes")


@dataclass(frozen=True)
class Sample:
    t_unix_s: float
    gpu_util_pct: int | None
    mem_util_pct: int | None
    mem_used_bytes: int | None
    sm_clock_mhz: int | None
    power_w: float | None
    rss_bytes: int


def open_nvml():
    """`(pynvml, None)` with NVML initialised, or `(None, reason)` when NVML cannot be used here."""
    try:
        import pynvml
    except ImportError:
        return None, "nvidia-ml-py is not installed: pip install nvidia-ml-py"
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return None, f"NVML unavailable ({exc}): no NVIDIA driver on this machine"
    return pynvml, None


def _gpu_handle(pynvml, device_uuid: str | None):
    """NVML handle of the GPU torch uses: by UUID (robust to CUDA_VISIBLE_DEVICES), else index 0."""
    if device_uuid:
        try:
            return pynvml.nvmlDeviceGetHandleByUUID(device_uuid)
        except pynvml.NVMLError:
            pass
    return pynvml.nvmlDeviceGetHandleByIndex(0)


def _read_gpu(pynvml, handle) -> tuple:
    util = pynvml.nvmlDeviceGetUtilizationRates(handle)
    mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
    clock = pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)
    power_mw = pynvml.nvmlDeviceGetPowerUsage(handle)
    return util.gpu, util.memory, mem.used, clock, power_mw / 1000.0


class Sampler:
    """Samples NVML (when available) and process RSS on a thread between `start()` and `stop()`."""

    def __init__(self, interval_s: float, use_gpu: bool, device_uuid: str | None = None):
        import psutil

        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self.note: str | None = None
        self._written = 0  # samples already appended to the file
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pynvml = self._handle = None
        if use_gpu:
            self._pynvml, self.note = open_nvml()
            if self._pynvml is not None:
                self._handle = _gpu_handle(self._pynvml, device_uuid)
        else:
            self.note = "CPU run: NVML not sampled, process RSS only"

    @property
    def gpu_available(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="profkit-nvml", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pynvml is not None:
            self._pynvml.nvmlShutdown()
            self._pynvml = self._handle = None

    def sample(self) -> Sample:
        gpu = (None,) * 5
        pynvml, handle = self._pynvml, self._handle  # a handle is only ever opened with pynvml
        if pynvml is not None and handle is not None:
            try:
                gpu = _read_gpu(pynvml, handle)
            except pynvml.NVMLError:
                pass  # a query can fail transiently (e.g. power on some boards); keep the row
        return Sample(time.time(), *gpu, rss_bytes=self._process.memory_info().rss)

    def _loop(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            self.samples.append(self.sample())
            next_t += self.interval_s
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def peak_rss_bytes(self, t_start: float, t_end: float) -> int:
        """Largest sampled RSS in [t_start, t_end], and RSS now (the window may hold no sample)."""
        window = [s.rss_bytes for s in list(self.samples) if t_start <= s.t_unix_s <= t_end]
        return max([*window, self._process.memory_info().rss])

    def append_csv(self, path: Path) -> int:
        """Append the samples not yet written to `path` (created with its header row when absent),
        atomically: the file always holds whole rows, earlier ones -- also a previous run's -- kept.
        Returns the number of rows appended."""
        path = Path(path)
        new = list(self.samples)[self._written :]
        header = ",".join(SAMPLE_COLUMNS) + "\n"
        try:
            existing = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            existing = header
        if not existing.startswith(header):
            raise ProfkitError(f"{path}: its header is not {header.strip()!r}; move the file away to keep it, then resume")
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        for s in new:
            writer.writerow(["" if v is None else v for v in astuple(s)])
        atomic_write_text(path, existing + buf.getvalue())
        self._written += len(new)
        return len(new)
