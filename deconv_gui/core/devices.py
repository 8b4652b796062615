"""Compute devices: which exist, which to use, how much memory we hold, how big a tile fits.

The preference order is CUDA, then Apple's MPS, then the CPU. An explicitly requested device
that is not usable raises `ModelError` with one readable line, so the CLI and the GUI can show
it as is. No Qt here.
"""

from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass
from typing import Any

import torch

from deconv_gui.errors import ModelError

DeviceLike = str | torch.device

#: Tile side (input pixels, context included) used on the CPU when none is given.
CPU_TILE_SIZE = 512

# (free accelerator memory in bytes, tile side) from the largest down; the first row whose
# memory is available wins. Sized for small restoration networks with some headroom; an
# out-of-memory error still halves the tile at run time.
_GPU_TILE_TABLE: tuple[tuple[int, int], ...] = (
    (20 << 30, 2048),
    (10 << 30, 1536),
    (6 << 30, 1024),
    (3 << 30, 768),
    (3 << 29, 512),
)
_GPU_MIN_TILE = 256

# Fragments of error messages that mean "the allocator ran out", from CUDA, MPS, cuBLAS and
# PyTorch's CPU allocator.
_OOM_FRAGMENTS = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "failed to allocate",
    "cublas_status_alloc_failed",
    "not enough memory",
)


def _mps_usable() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Device names usable on this computer: always "cpu", plus "cuda" and/or "mps"."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names.append("cuda")
    if _mps_usable():
        names.append("mps")
    return names


def resolve_device(name: DeviceLike = "auto") -> torch.device:
    """Turn "auto", "cpu", "cuda", "cuda:1" or "mps" into a usable `torch.device`.

    "auto" picks CUDA, then MPS, then the CPU. A device that is named but not usable raises
    `ModelError`.
    """
    text = str(name) if isinstance(name, torch.device) else (name or "auto").strip().lower()
    if text == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_usable():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(text)
    except RuntimeError:
        raise ModelError(f"unknown device '{name}' (choose auto, cpu, cuda or mps)") from None
    if dev.type == "cpu":
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = (
                "this PyTorch was built without CUDA"
                if torch.version.cuda is None
                else "no NVIDIA GPU or driver was found"
            )
            raise ModelError(f"CUDA is not available on this computer ({why}); use 'cpu' or 'auto'")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ModelError(f"there is no GPU {dev.index} (this computer has {count} CUDA GPU(s))")
        return dev
    if dev.type == "mps":
        if not _mps_usable():
            raise ModelError(
                "Apple GPU (MPS) is not available on this computer (needs macOS 12.3+ on "
                "Apple silicon); use 'cpu' or 'auto'"
            )
        return dev
    raise ModelError(f"unsupported device '{name}' (choose auto, cpu, cuda or mps)")


def set_cpu_threads(n: int) -> None:
    """Use `n` CPU threads for PyTorch and OpenCV (n >= 1)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"thread count must be at least 1, got {n}")
    torch.set_num_threads(n)
    import cv2

    cv2.setNumThreads(n)


def is_out_of_memory(exc: BaseException) -> bool:
    """True when `exc` means a device (or the host) ran out of memory."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return any(frag in text for frag in _OOM_FRAGMENTS)
    return False


def empty_cache(device: DeviceLike) -> None:
    """Give cached accelerator memory back (after an out-of-memory error or a job)."""
    gc.collect()
    kind = torch.device(device).type if not isinstance(device, torch.device) else device.type
    if kind == "cuda" and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif kind == "mps" and _mps_usable():
        torch.mps.empty_cache()


def _cpu_threads() -> int:
    return torch.get_num_threads()


def describe_device(device: DeviceLike) -> str:
    """A short human description, e.g. "CUDA: NVIDIA H100 (80 GB)" or "CPU (8 threads)"."""
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    if dev.type == "cuda" and torch.cuda.is_available():
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return f"CUDA: {props.name} ({props.total_memory / 1e9:.0f} GB)"
    if dev.type == "mps":
        return "MPS: Apple GPU (shared memory)"
    if dev.type == "cpu":
        return f"CPU ({_cpu_threads()} threads)"
    return str(dev)


@dataclass(frozen=True)
class MemoryUse:
    """Memory this process holds: host RSS and accelerator tensors, in bytes."""

    rss: int
    accelerator: int = 0

    @property
    def total(self) -> int:
        return self.rss + self.accelerator

    def __str__(self) -> str:
        text = f"{self.rss / 2**30:.2f} GiB RAM"
        if self.accelerator:
            text += f", {self.accelerator / 2**30:.2f} GiB GPU"
        return text


def _rss_bytes() -> int:
    """Current resident set size; the peak where only that is known."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            resident_pages = int(fh.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        return _windows_rss()
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports KiB, macOS bytes.
        return int(peak) if sys.platform == "darwin" else int(peak) * 1024
    except (ImportError, OSError):  # pragma: no cover
        return 0


def _windows_rss() -> int:  # pragma: no cover - Windows only
    import ctypes
    from ctypes import wintypes

    class Counters(ctypes.Structure):
        _fields_ = [
            ("cb", wintypes.DWORD),
            ("PageFaultCount", wintypes.DWORD),
            ("PeakWorkingSetSize", ctypes.c_size_t),
            ("WorkingSetSize", ctypes.c_size_t),
            ("QuotaPeakPagedPoolUsage", ctypes.c_size_t),
            ("QuotaPagedPoolUsage", ctypes.c_size_t),
            ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t),
            ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
            ("PagefileUsage", ctypes.c_size_t),
            ("PeakPagefileUsage", ctypes.c_size_t),
        ]

    counters = Counters()
    counters.cb = ctypes.sizeof(Counters)
    handle = ctypes.windll.kernel32.GetCurrentProcess()  # type: ignore[attr-defined]
    ok = ctypes.windll.psapi.GetProcessMemoryInfo(  # type: ignore[attr-defined]
        handle, ctypes.byref(counters), counters.cb
    )
    return int(counters.WorkingSetSize) if ok else 0


_MALLOC_TRIM: Any = None
_MALLOC_TRIM_LOOKED_UP = False


def release_host_memory() -> None:
    """Hand freed C-heap pages back to the OS (glibc's ``malloc_trim``; no-op elsewhere).

    glibc raises its mmap threshold after large blocks are freed, so PyTorch's tile-sized CPU
    buffers end up in the heap and freed pages stay resident: without this, RSS creeps up
    tile after tile on a big photo although nothing is held.
    """
    global _MALLOC_TRIM, _MALLOC_TRIM_LOOKED_UP
    if not _MALLOC_TRIM_LOOKED_UP:
        _MALLOC_TRIM_LOOKED_UP = True
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                _MALLOC_TRIM = ctypes.CDLL(None).malloc_trim
                _MALLOC_TRIM.argtypes = [ctypes.c_size_t]
                _MALLOC_TRIM.restype = ctypes.c_int
            except (OSError, AttributeError):  # musl and other libcs: nothing to do
                _MALLOC_TRIM = None
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def memory_report() -> MemoryUse:
    """Host RSS plus the bytes PyTorch holds in CUDA tensors (when CUDA is in use)."""
    gpu = 0
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        gpu = int(torch.cuda.memory_allocated())
    return MemoryUse(rss=_rss_bytes(), accelerator=gpu)


def memory_in_use() -> int:
    """Bytes this process holds now: resident host memory plus CUDA tensors (see `memory_report`)."""
    return memory_report().total


def auto_tile_size(device: DeviceLike) -> int:
    """A tile side (input pixels, context included) that should fit the device's memory."""
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    free = 0
    if dev.type == "cuda" and torch.cuda.is_available():
        try:
            free, _total = torch.cuda.mem_get_info(dev)
        except RuntimeError:
            free = 0
    elif dev.type == "mps" and _mps_usable():
        # Unified memory: use what Metal recommends, minus what we already hold there.
        try:
            free = int(torch.mps.recommended_max_memory()) - int(
                torch.mps.current_allocated_memory()
            )
        except (AttributeError, RuntimeError):
            free = 0
    else:
        return CPU_TILE_SIZE
    for needed, side in _GPU_TILE_TABLE:
        if free >= needed:
            return side
    return _GPU_MIN_TILE


#: "1" / "0" forces bfloat16 CPU inference and fine-tuning on or off; unset = whether the CPU
#: has native bfloat16 (`cpu_bf16_is_fast`).
CPU_BF16_ENV = "DECONV_GUI_CPU_BF16"


def cpu_bf16_is_fast() -> bool:
    """True when this CPU has native bfloat16 arithmetic (AMX or AVX512-BF16).

    There oneDNN's bf16 convolutions run about twice as fast as fp32 (the speed table in
    README); elsewhere bf16 is emulated and slower. ``DECONV_GUI_CPU_BF16=1/0`` forces the
    answer. The choice follows the CPU's features, not a timing: a timing probe gave a
    different answer now and then on a busy machine, and with it a slightly different
    result for the same photo from one run to the next.
    """
    forced = os.environ.get(CPU_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    return _cpu_has_native_bf16()


def _cpu_has_native_bf16() -> bool:
    def feature(name: str) -> bool:
        probe = getattr(torch.cpu, name, None)
        try:
            return bool(probe()) if callable(probe) else False
        except RuntimeError:
            return False

    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):
        return False
    return feature("_is_amx_tile_supported") or feature("_is_avx512_bf16_supported")
