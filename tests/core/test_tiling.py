"""The tiled engine, the torch runner and the restore job (no Qt)."""

from __future__ import annotations

import subprocess
import sys
import threading
from functools import cache

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from deconv_gui.core.jobs import restore_job
from deconv_gui.core.runner import TorchProcessor
from deconv_gui.core.tiling import BLEND_PX, TileProgress, restore_tiled, run_to_end
from deconv_gui.errors import ModelError

TOL = 1.0 / 255.0


# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny tensors: thread hand-offs would cost more than the maths (and the CI box is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


@cache
def _net(scale: int) -> nn.Module:
    """A random conv net: 3 convs (3x3) and, for scale 2/4, one ConvTranspose2d upsampler.

    Receptive field radius: 3 px (convs) + 1 px (transposed conv), in input pixels.
    """
    torch.manual_seed(1234 + scale)
    layers: list[nn.Module] = [nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()]
    if scale == 1:
        layers += [nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()]
    elif scale == 2:
        layers += [nn.ConvTranspose2d(8, 8, 4, stride=2, padding=1), nn.ReLU()]
    elif scale == 4:
        layers += [nn.ConvTranspose2d(8, 8, 8, stride=4, padding=2), nn.ReLU()]
    layers += [nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1)]
    layers += [nn.Sigmoid()]
    return nn.Sequential(*layers).eval()


@cache
def _processor(scale: int) -> TorchProcessor:
    return TorchProcessor(_net(scale), scale=scale, overlap=4, device="cpu")


def _drain(gen) -> tuple[list[TileProgress], np.ndarray]:
    items = []
    while True:
        try:
            items.append(next(gen))
        except StopIteration as stop:
            return items, stop.value


def _assert_boxes_partition(items: list[TileProgress], out: np.ndarray) -> None:
    count = np.zeros(out.shape[:2], np.int32)
    for p in items:
        y0, y1, x0, x1 = p.box
        count[y0:y1, x0:x1] += 1
        np.testing.assert_array_equal(p.pixels, out[y0:y1, x0:x1])  # final when reported
    assert count.min() == 1 and count.max() == 1


class BlurProcessor:
    """A 5x5 box blur (receptive field 2 px) that can pretend to run out of GPU memory."""

    scale = 1
    overlap = 2

    def __init__(self, *, oom_above: int | None = None, error=None, can_fallback=True):
        self.device = "cuda"
        self.oom_above = oom_above
        self.error = error or (lambda: torch.OutOfMemoryError("CUDA out of memory. Tried 2 GiB"))
        self.can_fallback = can_fallback
        self.calls = 0
        self.ooms = 0
        self.recovered = 0
        self.fallbacks = 0

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        big = self.oom_above is not None and max(tile.shape[:2]) > self.oom_above
        if self.device != "cpu" and big:
            self.ooms += 1
            raise self.error()
        self.calls += 1
        return cv2.blur(tile, (5, 5), borderType=cv2.BORDER_REFLECT_101)

    def recover_from_oom(self) -> None:
        self.recovered += 1

    def fallback_to_cpu(self) -> bool:
        self.fallbacks += 1
        if self.device == "cpu" or not self.can_fallback:
            return False
        self.device = "cpu"
        return True


def _blur(img: np.ndarray) -> np.ndarray:
    return cv2.blur(img, (5, 5), borderType=cv2.BORDER_REFLECT_101)


# -- tiled equals whole ----------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1, 2, 4])
@pytest.mark.parametrize(
    ("h", "w", "tile"),
    [
        (37, 91, 40),  # several tiles across, one down the short side
        (20, 30, 64),  # smaller than one tile: processed whole
        (1, 70, 40),  # one pixel high
        (65, 1, 40),  # one pixel wide
        (81, 57, 24),  # inner regions at the 16 px floor
        (129, 100, 64),  # k * inner + 1 rows
    ],
)
def test_tiled_equals_whole(scale: int, h: int, w: int, tile: int) -> None:
    proc = _processor(scale)
    img = _image(h, w, seed=h * 1000 + w)
    whole = proc(img)
    items, out = _drain(restore_tiled(proc, img, tile_size=tile))
    assert out.shape == (h * scale, w * scale, 3) and out.dtype == np.float32
    assert np.abs(out - whole).max() <= TOL
    assert [p.done for p in items] == list(range(1, len(items) + 1))
    assert all(p.total == len(items) for p in items)
    _assert_boxes_partition(items, out)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    h=st.integers(1, 90),
    w=st.integers(1, 90),
    tile=st.integers(24, 100),
    scale=st.sampled_from([1, 2, 4]),
)
def test_tiled_equals_whole_property(h: int, w: int, tile: int, scale: int) -> None:
    proc = _processor(scale)
    img = _image(h, w, seed=h * 97 + w)
    items, out = _drain(restore_tiled(proc, img, tile_size=tile))
    assert np.abs(out - proc(img)).max() <= TOL
    assert len(items) == items[-1].total
    _assert_boxes_partition(items, out)
    for p in items:  # every crop handed to the processor fits the tile (or is the 16 px floor)
        assert p.tile_size == tile


def test_tiles_cover_big_image_and_crops_fit_tile() -> None:
    sizes: list[tuple[int, int]] = []

    class Recording(BlurProcessor):
        def __call__(self, tile):
            sizes.append(tile.shape[:2])
            return super().__call__(tile)

    img = _image(300, 250, seed=3)
    items, out = _drain(restore_tiled(Recording(), img, tile_size=64))
    assert max(max(s) for s in sizes) <= 64
    # even split: no thin edge tiles
    inner = 64 - 2 * (2 + BLEND_PX // 2)
    assert len(items) == -(-300 // inner) * -(-250 // inner)
    assert np.abs(out - _blur(img)).max() <= TOL


def test_seams_are_feathered_smoothly() -> None:
    """A processor that paints each tile one random flat value: the joins must be ramps."""
    rng = np.random.default_rng(7)
    values: list[float] = []

    class Flat:
        scale, overlap, device = 2, 0, "cpu"

        def __call__(self, tile):
            values.append(float(rng.random()))
            return np.full((tile.shape[0] * 2, tile.shape[1] * 2, 3), values[-1], np.float32)

    _, out = _drain(restore_tiled(Flat(), _image(150, 140), tile_size=48))
    lo, hi = min(values), max(values)
    assert out.min() >= lo - 1e-6 and out.max() <= hi + 1e-6  # convex blend, weights sum to 1
    step = max(np.abs(np.diff(out, axis=0)).max(), np.abs(np.diff(out, axis=1)).max())
    # raised-cosine over a 16 px band (32 output px): slope <= pi / 64 per pixel of the range
    assert step <= (hi - lo) * 0.1
    assert step > 0


def test_constant_processor_gives_constant_output() -> None:
    class Const:
        scale, overlap, device = 1, 3, "cpu"

        def __call__(self, tile):
            return np.full_like(tile, 0.25)

    _, out = _drain(restore_tiled(Const(), _image(100, 77), tile_size=40))
    np.testing.assert_allclose(out, 0.25, atol=1e-6)


def test_auto_tile_size_on_cpu_and_run_to_end() -> None:
    proc = BlurProcessor()
    proc.device = "cpu"
    gen = restore_tiled(proc, _image(30, 40))
    first = next(gen)
    assert first.tile_size == 512 and first.device == "cpu"
    gen.close()
    out = run_to_end(restore_tiled(proc, _image(30, 40, seed=5), tile_size=24))
    np.testing.assert_allclose(out, _blur(_image(30, 40, seed=5)), atol=1e-6)


def test_rejects_bad_images() -> None:
    proc = BlurProcessor()
    with pytest.raises(ValueError, match="HxWxC"):
        run_to_end(restore_tiled(proc, np.zeros((4, 4), np.float32)))
    with pytest.raises(ValueError, match="float"):
        run_to_end(restore_tiled(proc, np.zeros((4, 4, 3), np.uint8)))
    with pytest.raises(ValueError, match="empty"):
        run_to_end(restore_tiled(proc, np.zeros((0, 4, 3), np.float32)))


def test_packed_mosaic_tiles_like_whole() -> None:
    """Four-channel images (packed Bayer mosaics for the RAW denoiser) tile like RGB: tiled
    output equals the whole-image output, every channel of it."""
    rng = np.random.default_rng(3)
    img = rng.random((150, 170, 4), dtype=np.float32)
    whole = run_to_end(restore_tiled(BlurProcessor(), img, tile_size=1000))
    tiled = run_to_end(restore_tiled(BlurProcessor(), img, tile_size=48))
    assert whole.shape == (150, 170, 4)
    assert np.abs(tiled - whole).max() < 1 / 255
    assert not np.allclose(whole[:, :, 3], img[:, :, 3])  # the fourth plane was processed


def test_wrong_output_shape_is_a_model_error() -> None:
    class Wrong:
        scale, overlap, device = 2, 0, "cpu"

        def __call__(self, tile):
            return tile

    with pytest.raises(ModelError, match="expected"):
        run_to_end(restore_tiled(Wrong(), _image(10, 10)))


# -- cancel ----------------------------------------------------------------------------------


@pytest.mark.parametrize("oom_above", [None, 30])
def test_close_stops_before_the_next_tile(oom_above: int | None) -> None:
    img = _image(160, 160, seed=11)
    full = BlurProcessor(oom_above=oom_above)
    items, _ = _drain(restore_tiled(full, img, tile_size=64, min_tile=16))
    assert len(items) == full.calls >= 6
    for taken in (1, 2, len(items) // 2, len(items) - 1):
        proc = BlurProcessor(oom_above=oom_above)
        gen = restore_tiled(proc, img, tile_size=64, min_tile=16)
        for _ in range(taken):
            next(gen)
        gen.close()
        # every successful processor call was reported, and none started after the close
        assert proc.calls == taken
        with pytest.raises(StopIteration):
            next(gen)


# -- out of memory ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        lambda: RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"),
        lambda: RuntimeError("MPS backend out of memory (MPS allocated: 9.0 GB)"),
        lambda: MemoryError(),
    ],
)
def test_oom_halves_the_tile_and_finishes(error) -> None:
    img = _image(150, 130, seed=2)
    proc = BlurProcessor(oom_above=40, error=error)
    items, out = _drain(restore_tiled(proc, img, tile_size=128, min_tile=16))
    assert np.abs(out - _blur(img)).max() <= TOL
    assert proc.ooms >= 2 and proc.recovered == proc.ooms
    assert proc.fallbacks == 0
    sizes = [p.tile_size for p in items]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 32
    assert "tile size reduced to 32" in items[-1].message
    assert len(items) == proc.calls and items[-1].done == items[-1].total == proc.calls
    _assert_boxes_partition(items, out)


def test_oom_at_the_floor_moves_to_cpu() -> None:
    img = _image(90, 70, seed=4)
    proc = BlurProcessor(oom_above=10)
    items, out = _drain(restore_tiled(proc, img, tile_size=128, min_tile=32))
    assert proc.fallbacks == 1 and proc.device == "cpu"
    assert np.abs(out - _blur(img)).max() <= TOL
    assert items[-1].device == "cpu" and "CPU" in items[-1].message
    _assert_boxes_partition(items, out)


def test_oom_everywhere_is_a_model_error() -> None:
    proc = BlurProcessor(oom_above=0, can_fallback=False)
    with pytest.raises(ModelError, match="out of memory on cuda even with 16 px tiles"):
        run_to_end(restore_tiled(proc, _image(60, 60), tile_size=64, min_tile=16))
    assert proc.fallbacks == 1 and proc.recovered == proc.ooms == 3  # 64, 32, 16


def test_oom_without_optional_methods_is_a_model_error() -> None:
    class Bare:
        scale, overlap, device = 1, 0, "mps"

        def __call__(self, tile):
            raise RuntimeError("MPS backend out of memory")

    with pytest.raises(ModelError, match="out of memory"):
        run_to_end(restore_tiled(Bare(), _image(20, 20), tile_size=64))


def test_other_errors_propagate_unchanged() -> None:
    class Broken:
        scale, overlap, device = 1, 0, "cpu"

        def __call__(self, tile):
            raise RuntimeError("weights are corrupt")

    with pytest.raises(RuntimeError, match="weights are corrupt"):
        run_to_end(restore_tiled(Broken(), _image(20, 20)))


# -- TorchProcessor --------------------------------------------------------------------------


class NaNInHalf(nn.Module):
    """Returns 1 - x, but NaN whenever it runs in float16 (like an fp16 overflow)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))
        self.half_calls = 0
        self.float_calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float16:
            type(self).last_half_calls = getattr(type(self), "last_half_calls", 0) + 1
            return torch.full_like(x, float("nan"))
        self.float_calls += 1
        return self.weight - x


def test_fp16_is_cpu_free_and_nan_falls_back_to_fp32() -> None:
    module = NaNInHalf()
    proc = TorchProcessor(module, scale=1, overlap=0, device="cpu", fp16=True)
    assert proc.device == "cpu" and not proc.uses_fp16  # fp16 only on CUDA / MPS
    tile = _image(9, 13)
    # Force the half path on the CPU (test hook): its NaN result must be replaced by fp32.
    NaNInHalf.last_half_calls = 0
    proc._use_half = True
    out = proc(tile)
    np.testing.assert_allclose(out, 1.0 - tile, atol=1e-6)
    assert NaNInHalf.last_half_calls == 1 and module.float_calls == 1
    assert not proc.uses_fp16 and "NaN" in proc.fp16_disabled_reason
    proc(tile)  # stays in fp32 afterwards
    assert NaNInHalf.last_half_calls == 1 and module.float_calls == 2


def test_fp16_path_runs_a_real_conv_in_half() -> None:
    proc = TorchProcessor(_net(2), scale=2, overlap=4, device="cpu", fp16=True)
    ref = proc(_image(12, 10))
    proc._use_half = True  # CPU half convolutions exist in PyTorch; slow but honest
    half = proc(_image(12, 10))
    assert proc.uses_fp16  # finite result: no fallback
    assert np.abs(half - ref).max() < 1e-2 and half.dtype == np.float32
    assert next(_net(2).parameters()).dtype == torch.float32  # fp32 weights untouched


def test_fp32_nan_is_a_model_error() -> None:
    class AlwaysNaN(nn.Module):
        def forward(self, x):
            return x * float("nan")

    proc = TorchProcessor(AlwaysNaN(), scale=1, overlap=0, device="cpu")
    with pytest.raises(ModelError, match="NaN"):
        proc(_image(4, 4))


class NeedsMultipleOf8(nn.Module):
    def __init__(self, scale: int = 1) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x, extra=None):
        assert x.shape[-2] % 8 == 0 and x.shape[-1] % 8 == 0, x.shape
        y = x if extra is None else x + extra
        if self.scale > 1:
            y = torch.nn.functional.interpolate(y, scale_factor=self.scale, mode="nearest")
        return y


@pytest.mark.parametrize(("h", "w"), [(13, 21), (1, 1), (1, 9), (16, 8)])
@pytest.mark.parametrize("scale", [1, 2])
def test_pad_multiple_pads_and_crops_back(h: int, w: int, scale: int) -> None:
    proc = TorchProcessor(NeedsMultipleOf8(scale), scale=scale, overlap=0, pad_multiple=8)
    tile = _image(h, w)
    out = proc(tile)
    expected = tile.repeat(scale, axis=0).repeat(scale, axis=1)
    np.testing.assert_array_equal(out, expected)


def test_extra_input_is_the_second_argument() -> None:
    seen = []

    def noise_map(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape))
        return torch.full_like(x[:, :1], 0.1)

    proc = TorchProcessor(
        NeedsMultipleOf8(), scale=1, overlap=0, pad_multiple=8, extra_input=noise_map
    )
    tile = _image(11, 5) * 0.5
    np.testing.assert_allclose(proc(tile), tile + 0.1, atol=1e-6)
    assert seen == [(1, 3, 16, 8)]  # computed on the padded input


def test_output_is_clamped_and_input_untouched() -> None:
    class Identity(nn.Module):
        def forward(self, x):
            return x

    class Stretch(nn.Module):
        def forward(self, x):
            return x * 3 - 1

    tile = _image(6, 7) * 2.0  # some values above 1
    before = tile.copy()
    out = TorchProcessor(Identity(), scale=1, overlap=0)(tile)
    assert out.max() <= 1.0 and np.array_equal(tile, before)
    np.testing.assert_allclose(
        TorchProcessor(Stretch(), scale=1, overlap=0)(before),
        np.clip(before * 3 - 1, 0, 1),
        atol=1e-6,
    )


def test_wrong_scale_is_a_model_error() -> None:
    proc = TorchProcessor(NeedsMultipleOf8(1), scale=2, overlap=0, pad_multiple=8)
    with pytest.raises(ModelError, match="expected x2"):
        proc(_image(8, 8))


def test_inference_mode_is_entered_inside_the_call_in_any_thread() -> None:
    seen: list[bool] = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append(torch.is_inference_mode_enabled())
            return x

    proc = TorchProcessor(Probe(), scale=1, overlap=0)
    worker = threading.Thread(target=proc, args=(_image(4, 4),))
    worker.start()
    worker.join()
    assert seen == [True] and not torch.is_inference_mode_enabled()


def test_cpu_processor_cannot_fall_back_and_unknown_devices_fail() -> None:
    proc = _processor(1)
    assert proc.device == "cpu" and proc.fallback_to_cpu() is False
    proc.recover_from_oom()  # harmless on the CPU
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="CUDA"):
            TorchProcessor(_net(1), scale=1, overlap=4, device="cuda")


# -- restore_job -----------------------------------------------------------------------------


def test_restore_job_builds_lazily_and_tiles() -> None:
    from deconv_gui.models.registry import LoadOptions, ModelSpec

    builds: list[str] = []

    def build(options: LoadOptions) -> TorchProcessor:
        builds.append(options.device)
        return TorchProcessor(_net(2), scale=2, overlap=4, device=options.device)

    spec = ModelSpec("tiny-x2", "Tiny x2", "upscale", 2, "bundled", "test net", build)
    img = _image(50, 70, seed=9)
    gen = restore_job(spec, img, LoadOptions(device="cpu"), tile_size=40)
    assert builds == []  # nothing happens until the runner pulls
    items, out = _drain(gen)
    assert builds == ["cpu"] and len(items) > 1
    assert np.abs(out - _processor(2)(img)).max() <= TOL

    whole_spec = ModelSpec(
        "tiny-whole", "Whole", "upscale", 2, "bundled", "", build, tiles_well=False
    )
    items, out = _drain(restore_job(whole_spec, img, LoadOptions(device="cpu")))
    assert len(items) == 1 and items[0].box == (0, 100, 0, 140)


def test_restore_job_prepares_the_processor_with_the_whole_photo() -> None:
    from deconv_gui.models.registry import LoadOptions, ModelSpec

    prepared: list[tuple[int, ...]] = []

    class Prepared(BlurProcessor):
        def prepare(self, rgb: np.ndarray, meta: object = None) -> None:
            assert self.calls == 0  # before any tile
            prepared.append(rgb.shape)

    spec = ModelSpec("blur", "Blur", "denoise", 1, "classical", "", lambda o: Prepared())
    out = run_to_end(restore_job(spec, _image(70, 50), LoadOptions(device="cpu"), tile_size=32))
    assert prepared == [(70, 50, 3)]
    assert np.abs(out - _blur(_image(70, 50))).max() <= TOL


def test_core_modules_import_without_qt_or_registry() -> None:
    code = (
        "import sys\n"
        "import deconv_gui.core.tiling, deconv_gui.core.runner, deconv_gui.core.jobs\n"
        "import deconv_gui.core.devices\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'deconv_gui.models'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- reduced precision and layout on the CPU ---------------------------------------------


class _Residual(nn.Module):
    """x + conv(x) * 0.1: a residual restorer in miniature."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.1 * self.conv(x)


def test_cpu_bf16_choice_follows_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    from deconv_gui.core import devices

    monkeypatch.setenv(devices.CPU_BF16_ENV, "0")
    assert devices.cpu_bf16_is_fast() is False
    assert TorchProcessor(_Residual(), scale=1, overlap=1, fp16=True).precision == "float32"
    monkeypatch.setenv(devices.CPU_BF16_ENV, "1")
    assert devices.cpu_bf16_is_fast() is True
    assert TorchProcessor(_Residual(), scale=1, overlap=1, fp16=True).precision == "bfloat16"
    # fp16=False (the model or the user refuses reduced precision) always means float32
    assert TorchProcessor(_Residual(), scale=1, overlap=1, fp16=False).precision == "float32"
    monkeypatch.delenv(devices.CPU_BF16_ENV)
    assert isinstance(devices.cpu_bf16_is_fast(), bool)  # this CPU's answer


@pytest.mark.parametrize(("amx", "avx512_bf16"), [(True, False), (False, True), (False, False)])
def test_cpu_bf16_choice_follows_the_cpu_features_not_a_timing(
    monkeypatch: pytest.MonkeyPatch, amx: bool, avx512_bf16: bool
) -> None:
    """A timing probe could answer differently from one run to the next on a busy machine,
    and the same photo then came out slightly different; the CPU's features do not change."""
    import time

    from deconv_gui.core import devices

    monkeypatch.delenv(devices.CPU_BF16_ENV, raising=False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    native = amx or avx512_bf16
    clock = iter(range(10**9))  # a clock under which bfloat16 never looks faster
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(clock)))
    answers = {devices.cpu_bf16_is_fast() for _ in range(5)}
    assert answers == {native}


def test_bf16_on_cpu_keeps_the_skip_in_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    from deconv_gui.core import devices

    monkeypatch.setenv(devices.CPU_BF16_ENV, "1")
    tile = _image(40, 36)
    exact = TorchProcessor(_Residual(), scale=1, overlap=1, fp16=False)(tile)
    proc = TorchProcessor(_Residual(), scale=1, overlap=1, fp16=True)
    fast = proc(tile)
    assert proc.precision == "bfloat16" and fast.dtype == np.float32
    diff = np.abs(fast - exact)
    # the correction (about 0.1 in size) carries bf16's 8-bit mantissa; the input skip does not
    assert 0 < diff.max() < 2e-3
    # rounding every output to bf16 would be ~8x worse than what autocast does
    bf16_all = torch.from_numpy(exact).bfloat16().float().numpy()
    assert diff.mean() < 0.5 * np.abs(bf16_all - exact).mean()


class _NaNUnderAutocast(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_autocast_enabled("cpu"):
            return torch.full_like(x, float("nan"))
        return x


def test_bf16_nan_falls_back_to_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    from deconv_gui.core import devices

    monkeypatch.setenv(devices.CPU_BF16_ENV, "1")
    proc = TorchProcessor(_NaNUnderAutocast(), scale=1, overlap=0, fp16=True)
    tile = _image(8, 8)
    np.testing.assert_array_equal(proc(tile), tile)
    assert proc.precision == "float32" and "bfloat16" in proc.fp16_disabled_reason


def test_channels_last_matches_and_stays_on_the_cpu_module() -> None:
    import copy

    net = copy.deepcopy(_net(2))
    tile = _image(30, 26)
    plain = TorchProcessor(copy.deepcopy(net), scale=2, overlap=4)(tile)
    proc = TorchProcessor(net, scale=2, overlap=4, channels_last=True)
    assert proc.channels_last
    conv = next(m for m in proc.module.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(proc(tile), plain, atol=1e-5)


class _Recorder:
    """A TileProcessor that records the crop sizes it is given (identity output)."""

    scale = 1
    overlap = 4
    device = "cpu"

    def __init__(self, cpu_tile: int | None) -> None:
        self.cpu_tile = cpu_tile
        self.sides: list[int] = []

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        self.sides.append(max(tile.shape[:2]))
        return tile.copy()


@pytest.mark.parametrize("cpu_tile", [None, 200, 900])
def test_a_processor_can_ask_for_its_cpu_tile(cpu_tile: int | None) -> None:
    from deconv_gui.core.devices import CPU_TILE_SIZE

    rec = _Recorder(cpu_tile)
    img = _image(1000, 700)
    out = run_to_end(restore_tiled(rec, img))
    np.testing.assert_array_equal(out, img)
    limit = cpu_tile or CPU_TILE_SIZE
    assert max(rec.sides) <= limit
    assert max(rec.sides) > limit * 0.6  # the tiles do use the size asked for
    # an explicit tile size still wins
    rec2 = _Recorder(cpu_tile)
    run_to_end(restore_tiled(rec2, img, tile_size=128))
    assert max(rec2.sides) <= 128


def test_progress_says_what_precision_the_tiles_ran_in(monkeypatch: pytest.MonkeyPatch) -> None:
    from deconv_gui.core import devices

    img = _image(40, 40)
    gen = restore_tiled(_Recorder(None), img)
    assert next(gen).precision == ""  # not a network
    for flag, want in (("0", "float32"), ("1", "bfloat16")):
        monkeypatch.setenv(devices.CPU_BF16_ENV, flag)
        proc = TorchProcessor(_Residual(), scale=1, overlap=1, fp16=True)
        assert next(restore_tiled(proc, img)).precision == want


def test_run_to_end_shows_each_progress_and_returns_the_result() -> None:
    img = _image(300, 200)
    seen: list[TileProgress] = []
    out = run_to_end(restore_tiled(_Recorder(None), img, tile_size=128), seen.append)
    np.testing.assert_array_equal(out, img)
    assert len(seen) > 1 and [p.done for p in seen] == list(range(1, len(seen) + 1))


# -- Extra quality: the flipped-pass ensemble -------------------------------------------------


class _MosaicOp(nn.Module):
    """A packed RGGB mosaic -> each photosite's colour gain, then a 3x3 blur over the
    mosaic: it treats every photosite by its colour and mixes neighbours, so a flip that
    moved the pattern (R where G was) would change its result. The two greens get the same
    gain: a transpose swaps them."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = torch.tensor([1.0, 0.5, 0.5, 0.3]).view(1, 4, 1, 1)
        k = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 2.0], [3.0, 2.0, 1.0]])
        self.k = (k + k.T + k.flip(0) + k.flip(1)).view(1, 1, 3, 3)  # symmetric: flips keep it

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        m = torch.nn.functional.pixel_shuffle(x * self.gain, 2)
        y = torch.nn.functional.conv2d(m, self.k / self.k.sum(), padding=1)
        return torch.nn.functional.pixel_unshuffle(y, 2)


def test_pixel_shuffle_packs_planes_as_the_app_does() -> None:
    """The helper above relies on pixel_(un)shuffle's order being R, G1, G2, B."""
    m = torch.arange(16.0).view(1, 1, 4, 4)
    p = torch.nn.functional.pixel_unshuffle(m, 2)[0]
    assert p[0].tolist() == [[0, 2], [8, 10]] and p[1].tolist() == [[1, 3], [9, 11]]
    assert p[2].tolist() == [[4, 6], [12, 14]]


@pytest.mark.parametrize(("h", "w"), [(12, 16), (9, 7)])
def test_bayer_ensemble_keeps_the_pattern(h: int, w: int) -> None:
    tile = np.random.default_rng(3).random((h, w, 4), dtype=np.float32)
    one = TorchProcessor(_MosaicOp(), scale=1, overlap=0, channels=4, pad_multiple=4)
    eight = TorchProcessor(
        _MosaicOp(), scale=1, overlap=0, channels=4, pad_multiple=4, ensemble=True
    )
    a, b = one(tile), eight(tile)
    assert b.shape == a.shape == tile.shape
    # equal away from the edge, where the mosaic border is filled differently per flip
    np.testing.assert_allclose(b[1:-1, 1:-1], a[1:-1, 1:-1], atol=1e-6)
    # and not a copy of the one-pass result: the border shows the eight fills
    assert not np.allclose(a, b, atol=1e-6)


class _Shift(nn.Module):
    """Not flip-symmetric: moves the picture one pixel right (edge repeated)."""

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        return torch.cat([x[..., :1], x[..., :-1]], -1)


def test_ensemble_maps_every_pass_back() -> None:
    tile = _image(10, 14)
    # a symmetric model: the eight passes, each undone, give its own result
    proc = _processor(1)
    eight = TorchProcessor(_net(1), scale=1, overlap=4, device="cpu", ensemble=True)
    assert not np.allclose(eight(tile), proc(tile), atol=1e-4)  # the net is not symmetric
    ident = TorchProcessor(NeedsMultipleOf8(2), scale=2, overlap=0, pad_multiple=8, ensemble=True)
    np.testing.assert_allclose(ident(tile), tile.repeat(2, 0).repeat(2, 1), atol=1e-6)
    # a shift right, undone per pass: the mean of shifts right, left, down and up
    out = TorchProcessor(_Shift(), scale=1, overlap=0, ensemble=True)(tile)
    inner = tile[1:-1, 1:-1]
    expect = (
        2 * tile[1:-1, :-2] + 2 * tile[1:-1, 2:] + 2 * tile[:-2, 1:-1] + 2 * tile[2:, 1:-1]
    ) / 8
    np.testing.assert_allclose(out[1:-1, 1:-1], expect, atol=1e-6)
    assert not np.allclose(out[1:-1, 1:-1], inner, atol=1e-3)


def test_progress_says_how_many_passes_each_tile_takes() -> None:
    img = _image(40, 40)
    for ensemble, passes in ((False, 1), (True, 8)):
        proc = TorchProcessor(_net(1), scale=1, overlap=4, device="cpu", ensemble=ensemble)
        seen: list[TileProgress] = []
        run_to_end(restore_tiled(proc, img, tile_size=32), seen.append)
        assert seen and {tp.passes for tp in seen} == {passes}
