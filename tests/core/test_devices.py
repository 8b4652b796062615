"""Devices: choice, errors, threads, out-of-memory detection, memory and tile sizes (no Qt)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from deconv_gui.core import devices
from deconv_gui.errors import ModelError

NO_CUDA = not torch.cuda.is_available()
NO_MPS = not devices._mps_usable()


def test_available_devices_always_start_with_cpu() -> None:
    names = devices.available_devices()
    assert names[0] == "cpu"
    assert ("cuda" in names) == torch.cuda.is_available()
    assert set(names) <= {"cpu", "cuda", "mps"} and len(set(names)) == len(names)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(devices, "_mps_usable", lambda: False)
    assert devices.resolve_device("auto") == torch.device("cpu")
    assert devices.resolve_device() == torch.device("cpu")
    monkeypatch.setattr(devices, "_mps_usable", lambda: True)
    assert devices.resolve_device("auto").type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert devices.resolve_device("AUTO").type == "cuda"


def test_cpu_resolves_and_accepts_torch_devices() -> None:
    assert devices.resolve_device("cpu") == torch.device("cpu")
    assert devices.resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.skipif(not NO_CUDA, reason="this computer has CUDA")
def test_unavailable_cuda_is_a_readable_model_error() -> None:
    with pytest.raises(ModelError, match="CUDA is not available") as info:
        devices.resolve_device("cuda")
    assert "\n" not in str(info.value) and "'cpu'" in str(info.value)
    with pytest.raises(ModelError, match="CUDA"):
        devices.resolve_device("cuda:1")


@pytest.mark.skipif(not NO_MPS, reason="this computer has MPS")
def test_unavailable_mps_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="MPS"):
        devices.resolve_device("mps")


@pytest.mark.parametrize("name", ["tpu9", "gpu", "", "vulkan"])
def test_unknown_devices_are_model_errors(name: str) -> None:
    if name == "":
        assert devices.resolve_device(name).type in ("cpu", "cuda", "mps")  # empty = auto
        return
    with pytest.raises(ModelError, match="device"):
        devices.resolve_device(name)


def test_set_cpu_threads_sets_torch_and_opencv() -> None:
    torch_before, cv_before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        devices.set_cpu_threads(1)
        assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
        devices.set_cpu_threads(2)
        assert torch.get_num_threads() == 2 and cv2.getNumThreads() == 2
        with pytest.raises(ValueError, match="at least 1"):
            devices.set_cpu_threads(0)
    finally:
        torch.set_num_threads(torch_before)
        cv2.setNumThreads(cv_before)


@pytest.mark.parametrize(
    "exc",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        torch.cuda.OutOfMemoryError("CUDA out of memory"),
        RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 4 GiB total)"),
        RuntimeError("MPS backend out of memory (MPS allocated: 17.5 GB, other allocations)"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        ),
        RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
        MemoryError(),
    ],
)
def test_out_of_memory_is_recognised(exc: BaseException) -> None:
    assert devices.is_out_of_memory(exc)


@pytest.mark.parametrize(
    "exc",
    [
        RuntimeError(
            "Given groups=1, weight of size [64, 3, 3, 3], expected input to have 3 channels"
        ),
        ValueError("out of memory"),  # only allocator errors count, not any text
        KeyError("memory"),
        ModelError("unknown model"),
    ],
)
def test_other_errors_are_not_out_of_memory(exc: BaseException) -> None:
    assert not devices.is_out_of_memory(exc)


def test_describe_device() -> None:
    text = devices.describe_device("cpu")
    assert text.startswith("CPU (") and f"{torch.get_num_threads()} threads" in text
    assert devices.describe_device(torch.device("cpu")) == text


def test_memory_in_use_tracks_a_large_allocation() -> None:
    before = devices.memory_in_use()
    assert before > 10 * 2**20  # python + numpy + torch are well above 10 MiB
    block = np.ones(64 * 2**20, np.uint8)  # 64 MiB, touched
    after = devices.memory_in_use()
    assert after - before > 48 * 2**20
    report = devices.memory_report()
    assert report.total == report.rss + report.accelerator and "GiB RAM" in str(report)
    del block


def test_auto_tile_size_and_empty_cache() -> None:
    assert devices.auto_tile_size("cpu") == devices.CPU_TILE_SIZE == 512
    assert devices.auto_tile_size(torch.device("cpu")) == 512
    devices.empty_cache("cpu")  # nothing to do, must not fail
    devices.empty_cache(torch.device("cpu"))
    devices.release_host_memory()  # glibc malloc_trim where present, else nothing
    devices.release_host_memory()


def test_auto_tile_size_grows_with_gpu_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    sizes = []
    for free_gib in (1, 2, 4, 8, 16, 40):
        free = free_gib * 2**30
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda dev, f=free: (f, 80 * 2**30))
        sizes.append(devices.auto_tile_size("cuda"))
    assert sizes == sorted(sizes) and sizes[0] == 256 and sizes[-1] == 2048
    assert all(s >= 256 for s in sizes)
