"""The tiled restore engine: run any `TileProcessor` over a photo of any size.

How a photo is cut
    The image is split into a grid of *inner* regions of nearly equal size (no thin edge
    tiles). Neighbouring tiles overlap by a feather band of `BLEND_PX` input pixels centred on
    their common edge, and each tile is computed from a crop that adds `processor.overlap`
    pixels of context (the model's receptive field) around that, so every pixel written has
    its full context and the tiled result matches the whole-image result. ``tile_size`` is
    the largest crop side handed to the processor, context included; a photo whose crop fits
    in one tile is processed whole.

How tiles are joined
    Tiles are written in raster order straight into one preallocated float32 output. Each
    tile has a separable raised-cosine window (1 inside, a smooth ramp across each band) and
    the windows of all tiles sum to 1. Because the grid is known, the weight that earlier
    tiles already put on a pixel is a closed form of the tile's own window, so each tile is
    folded in as a running weighted average (``out += (tile - out) * w``) on its band pixels
    and copied elsewhere: no image-sized weight accumulator, only tile-sized temporaries.
    After tile (i, j) the rectangle from the middle of its top/left bands to the middle of its
    bottom/right bands is final; that rectangle is the `TileProgress.box`, and the boxes of a
    run partition the output exactly once.

Long work, cancel, out-of-memory
    `restore_tiled` is a generator (see DESIGN.md section 2). It yields one `TileProgress`
    after every successful processor call and returns the output (``StopIteration.value``).
    The next processor call happens only when the consumer asks for the next item, so after
    ``close()`` no tile starts. When a call runs out of memory the engine calls
    ``processor.recover_from_oom()``, halves the tile size and computes the failed region
    (and everything after it) in smaller pieces; at ``min_tile`` it calls
    ``processor.fallback_to_cpu()`` and goes on there, and if that is not possible it raises
    `ModelError`. A region that had to be split reports its intermediate calls with an empty
    box (nothing new is final yet); totals grow to count the extra calls.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from deconv_gui.core import devices
from deconv_gui.errors import ModelError

#: Width (input pixels) of the feathered band shared by two neighbouring tiles.
BLEND_PX = 16
#: Smallest inner region (input pixels) a tile is cut to, whatever the context needs.
MIN_INNER = 16

Box = tuple[int, int, int, int]
R = TypeVar("R")


class TileProcessor(Protocol):
    """Anything the engine can run: maps an (h, w, C) float32 tile to (h*scale, w*scale, C).

    C is 3 (RGB) for photos; the RAW denoiser runs on packed Bayer mosaics (C = 4).

    ``overlap`` is the context (input pixels) the model needs on each side of a pixel.
    Optional methods the engine uses when present: ``recover_from_oom()`` (free cached
    memory) and ``fallback_to_cpu() -> bool`` (move to the CPU; False when impossible).
    """

    scale: int
    overlap: int
    device: str

    def __call__(self, tile: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class TileProgress:
    """Progress after one processor call.

    ``box`` is (y0, y1, x0, x1) in output pixels and ``pixels`` a read-only view of the output
    there; both are final. The box is empty for intermediate calls of a region that was
    split after running out of memory. ``message`` says what the engine changed on its own
    (smaller tiles, CPU fallback) and stays set for the rest of the run.
    """

    done: int
    total: int
    box: Box
    pixels: np.ndarray
    tile_size: int
    device: str
    message: str = ""
    #: what the processor runs in ("float32", "bfloat16", "float16"; "" when not a network)
    precision: str = ""
    #: runs of the network per tile: 8 with "Extra quality" (`core.runner`), else 1
    passes: int = 1


@dataclass(frozen=True)
class _Span:
    """One piece of an axis (input pixels): the inner region and the half band on each side."""

    start: int
    stop: int
    lo: int  # half band width before `start` (0 at the edge of the region)
    hi: int  # half band width after `stop`

    @property
    def write(self) -> tuple[int, int]:
        return self.start - self.lo, self.stop + self.hi

    @property
    def final(self) -> tuple[int, int]:
        return self.start - self.lo, self.stop - self.hi


def _split_axis(r0: int, r1: int, dim: int, tile_size: int, context: int) -> list[_Span]:
    """Cut [r0, r1) of an axis of length `dim` into pieces whose crops fit `tile_size`."""
    crop = min(dim, r1 + context) - max(0, r0 - context)
    length = r1 - r0
    inner = max(MIN_INNER, tile_size - 2 * (context + BLEND_PX // 2))
    # When the context leaves less than MIN_INNER inside the tile, crops grow past it.
    if crop <= max(tile_size, inner + 2 * (context + BLEND_PX // 2)):
        return [_Span(r0, r1, 0, 0)]
    n = -(-length // inner)
    if n <= 1:
        return [_Span(r0, r1, 0, 0)]
    bounds = [r0 + (length * k) // n for k in range(n + 1)]
    smallest = min(b - a for a, b in itertools.pairwise(bounds))
    half = min(BLEND_PX // 2, smallest // 2)
    return [
        _Span(bounds[k], bounds[k + 1], half if k > 0 else 0, half if k < n - 1 else 0)
        for k in range(n)
    ]


def _ramp(n: int) -> np.ndarray:
    """A raised-cosine ramp rising from ~0 to ~1 over n samples (never exactly 0 or 1)."""
    u = (np.arange(n, dtype=np.float64) + 0.5) / n
    return (0.5 - 0.5 * np.cos(np.pi * u)).astype(np.float32)


def _window(span: _Span, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Output-pixel window of a span over its write region, and the weight that the pieces
    before it hold on its leading band (same length as that band)."""
    w0, w1 = span.write
    a = np.ones((w1 - w0) * scale, np.float32)
    lo, hi = 2 * span.lo * scale, 2 * span.hi * scale
    before = np.zeros(lo, np.float32)
    if lo:
        r = _ramp(lo)
        a[:lo] = r
        before[:] = 1.0 - r
    if hi:
        a[a.size - hi :] = 1.0 - _ramp(hi)
    return a, before


def _composite(
    dst: np.ndarray,
    tile: np.ndarray,
    ywin: tuple[np.ndarray, np.ndarray],
    xwin: tuple[np.ndarray, np.ndarray],
) -> None:
    """Fold `tile` into `dst` (same shape) as a running weighted average.

    With separable windows a(y) b(x) that sum to 1 over the grid, the weight earlier tiles
    hold at a pixel of this tile is A(y) + a(y) B(x), where A and B are the leading-band
    weights of the previous row and column (zero outside the bands).
    """
    ay, ay_before = ywin
    bx, bx_before = xwin
    ty, tx = ay_before.size, bx_before.size
    dst[ty:, tx:] = tile[ty:, tx:]
    if tx:  # left band below the top band: earlier weight a(y) B(x), so w = b / (B + b)
        w = (bx[:tx] / (bx_before + bx[:tx]))[None, :, None]
        d = dst[ty:, :tx]
        d += (tile[ty:, :tx] - d) * w
    if ty:  # top band, full width
        before_x = np.zeros_like(bx)
        before_x[:tx] = bx_before
        mine = ay[:ty, None] * bx[None, :]
        earlier = ay_before[:, None] + ay[:ty, None] * before_x[None, :]
        w = (mine / (earlier + mine))[..., None]
        d = dst[:ty]
        d += (tile[:ty] - d) * w


def _error_summary(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first if len(first) <= 160 else first[:157] + "..."


class _TiledRun:
    """State of one `restore_tiled` run (tile size, call counts, OOM handling)."""

    def __init__(
        self, processor: TileProcessor, image: np.ndarray, tile_size: int, min_tile: int
    ) -> None:
        self.processor = processor
        self.image = image
        self.height, self.width = int(image.shape[0]), int(image.shape[1])
        self.channels = int(image.shape[2])
        self.scale = int(processor.scale)
        self.context = max(0, int(processor.overlap))
        self.align = max(1, int(getattr(processor, "pad_multiple", 1)))
        self.initial_tile = tile_size
        self.tile_size = tile_size
        self.min_tile = min_tile
        self.message = ""
        self.moved_to_cpu = False
        self.calls = 0  # successful processor calls
        self.out = np.zeros(
            (self.height * self.scale, self.width * self.scale, self.channels), np.float32
        )
        ys = _split_axis(0, self.height, self.height, tile_size, self.context)
        xs = _split_axis(0, self.width, self.width, tile_size, self.context)
        self.plan = list(itertools.product(ys, xs))
        # progress accounting for the outer tile in hand
        self.index = 0
        self.calls_before_tile = 0
        self.planned_for_tile = 1
        self._future: dict[int, list[int]] = {}

    # -- progress --------------------------------------------------------------------------

    def _calls_after(self, index: int) -> int:
        """Estimated processor calls for the outer tiles after `index` at the current size."""
        suffix = self._future.get(self.tile_size)
        if suffix is None:
            counts = []
            for sy, sx in self.plan:
                (y0, y1), (x0, x1) = sy.write, sx.write
                ny = len(_split_axis(y0, y1, self.height, self.tile_size, self.context))
                nx = len(_split_axis(x0, x1, self.width, self.tile_size, self.context))
                counts.append(ny * nx)
            suffix = list(itertools.accumulate(reversed(counts)))[::-1] + [0]
            self._future[self.tile_size] = suffix
        return suffix[index + 1]

    def progress(self, box: Box) -> TileProgress:
        y0, y1, x0, x1 = box
        pixels = self.out[y0:y1, x0:x1]
        pixels.flags.writeable = False
        total = self.calls_before_tile + self.planned_for_tile + self._calls_after(self.index)
        return TileProgress(
            done=self.calls,
            total=max(total, self.calls),
            box=box,
            pixels=pixels,
            tile_size=self.tile_size,
            device=str(getattr(self.processor, "device", "")),
            message=self.message,
            precision=str(getattr(self.processor, "precision", "")),
            passes=8 if getattr(self.processor, "ensemble", False) else 1,
        )

    # -- the work --------------------------------------------------------------------------

    def run(self) -> Generator[TileProgress, None, np.ndarray]:
        s = self.scale
        for index, (sy, sx) in enumerate(self.plan):
            self.index = index
            self.calls_before_tile = self.calls
            self.planned_for_tile = 1
            (y0, y1), (x0, x1) = sy.write, sx.write
            result = yield from self._render(y0, y1, x0, x1)
            dst = self.out[y0 * s : y1 * s, x0 * s : x1 * s]
            _composite(dst, result, _window(sy, s), _window(sx, s))
            del result
            devices.release_host_memory()  # keeps RSS set by the tile, not the photo
            (fy0, fy1), (fx0, fx1) = sy.final, sx.final
            yield self.progress((fy0 * s, fy1 * s, fx0 * s, fx1 * s))
        return self.out

    def _render(
        self, y0: int, y1: int, x0: int, x1: int
    ) -> Generator[TileProgress, None, np.ndarray]:
        """Output pixels for input region [y0, y1) x [x0, x1), computed with full context.

        Yields after each processor call but the last; the caller reports that one.
        """
        while True:
            ys = _split_axis(y0, y1, self.height, self.tile_size, self.context)
            xs = _split_axis(x0, x1, self.width, self.tile_size, self.context)
            if len(ys) > 1 or len(xs) > 1:
                return (yield from self._render_split(y0, y1, x0, x1, ys, xs))
            result = self._call(y0, y1, x0, x1)
            if result is not None:
                return result

    def _render_split(
        self, y0: int, y1: int, x0: int, x1: int, ys: list[_Span], xs: list[_Span]
    ) -> Generator[TileProgress, None, np.ndarray]:
        s = self.scale
        pieces = list(itertools.product(ys, xs))
        self.planned_for_tile += len(pieces) - 1
        buf = np.zeros(((y1 - y0) * s, (x1 - x0) * s, self.channels), np.float32)
        for k, (sy, sx) in enumerate(pieces):
            (py0, py1), (px0, px1) = sy.write, sx.write
            result = yield from self._render(py0, py1, px0, px1)
            dst = buf[(py0 - y0) * s : (py1 - y0) * s, (px0 - x0) * s : (px1 - x0) * s]
            _composite(dst, result, _window(sy, s), _window(sx, s))
            del result
            if k < len(pieces) - 1:
                b = (self.plan[self.index][0].final[0] * s, self.plan[self.index][1].final[0] * s)
                yield self.progress((b[0], b[0], b[1], b[1]))
        return buf

    def _call(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray | None:
        """Run the processor on the region plus context; None after a handled OOM."""
        c, s, m = self.context, self.scale, self.align
        # Crops start on multiples of the processor's pad_multiple, so networks that
        # downsample (U-Nets, pixel-unshuffle, windowed attention) see the same sampling
        # grid as on the whole image: tiled output then equals whole-image output.
        cy0, cy1 = (max(0, y0 - c) // m) * m, min(self.height, y1 + c)
        cx0, cx1 = (max(0, x0 - c) // m) * m, min(self.width, x1 + c)
        crop = np.ascontiguousarray(self.image[cy0:cy1, cx0:cx1], dtype=np.float32)
        failure = ""
        try:
            result = self.processor(crop)
        except Exception as exc:
            if not devices.is_out_of_memory(exc):
                raise
            failure = _error_summary(exc)
        if failure:
            # Outside the except block, so the traceback (and the tensors its frames hold)
            # is gone before the cache is emptied.
            del crop
            self._after_oom(failure)
            return None
        self.calls += 1
        result = np.asarray(result, dtype=np.float32)
        expected = ((cy1 - cy0) * s, (cx1 - cx0) * s, self.channels)
        if result.shape != expected:
            raise ModelError(
                f"the model returned {result.shape} for a {crop.shape} tile, expected {expected}"
            )
        return result[(y0 - cy0) * s : (y1 - cy0) * s, (x0 - cx0) * s : (x1 - cx0) * s]

    def _after_oom(self, failure: str) -> None:
        proc = self.processor
        device = str(getattr(proc, "device", "?"))
        recover = getattr(proc, "recover_from_oom", None)
        if callable(recover):
            recover()
        if self.tile_size > self.min_tile:
            self.tile_size = max(self.min_tile, self.tile_size // 2)
            self.message = f"out of memory on {device}: tile size reduced to {self.tile_size} px"
            return
        fallback = getattr(proc, "fallback_to_cpu", None)
        if not self.moved_to_cpu and callable(fallback) and fallback():
            self.moved_to_cpu = True
            self.tile_size = max(self.min_tile, min(self.initial_tile, devices.CPU_TILE_SIZE))
            self.message = (
                f"out of memory on {device} even with {self.min_tile} px tiles: "
                "continuing on the CPU (slower)"
            )
            return
        raise ModelError(
            f"out of memory on {device} even with {self.min_tile} px tiles ({failure}); "
            "close other programs, choose a smaller model or process on the CPU"
        )


def _auto_tile(processor: TileProcessor) -> int:
    """The device's tile size; on the CPU a processor may ask for its own (``cpu_tile``:
    bigger tiles waste less on the overlap where the model's memory allows)."""
    device = str(getattr(processor, "device", "cpu"))
    cpu_tile = getattr(processor, "cpu_tile", None)
    if cpu_tile and device == "cpu":
        return int(cpu_tile)
    try:
        return devices.auto_tile_size(device)
    except (RuntimeError, ValueError):
        return devices.CPU_TILE_SIZE


def restore_tiled(
    processor: TileProcessor,
    image: np.ndarray,
    *,
    tile_size: int | None = None,
    min_tile: int = 64,
) -> Generator[TileProgress, None, np.ndarray]:
    """Run `processor` over `image` (H, W, C float in [0, 1]; C = 3 for RGB) tile by tile.

    Yields a `TileProgress` after each processor call and returns the (H*scale, W*scale, C)
    float32 output. ``tile_size`` is the largest crop side (input pixels, context included)
    given to the processor; None picks one for the processor's device. ``min_tile`` is the
    floor for halving after out-of-memory errors (lowered to ``tile_size`` if that is
    smaller).
    """
    if image.ndim != 3 or image.shape[2] < 1:
        raise ValueError(f"image must be HxWxC (C = 3 for RGB), got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty ({image.shape[0]}x{image.shape[1]})")
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"image must be float in [0, 1], got {image.dtype}")
    if int(processor.scale) < 1:
        raise ValueError(f"processor scale must be >= 1, got {processor.scale}")
    size = _auto_tile(processor) if tile_size is None else int(tile_size)
    if size < 1:
        raise ValueError(f"tile_size must be positive, got {tile_size}")
    floor = max(1, min(int(min_tile), size))
    return (yield from _TiledRun(processor, image, size, floor).run())


def run_to_end(
    gen: Generator[Any, Any, R], on_progress: Callable[[Any], object] | None = None
) -> R:
    """Drain a job generator and return its result; ``on_progress`` sees each item yielded."""
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(item)
