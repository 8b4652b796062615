"""Run a PyTorch module on one tile: `TorchProcessor`, a `TileProcessor` for the tiled engine.

The module takes NCHW float in [0, 1] (and optionally an extra tensor, e.g. an FFDNet-style
noise-level map) and returns NCHW with `scale` times the height and width. Each call converts
the (h, w, 3) float32 tile to a tensor on the device, pads it to a multiple of `pad_multiple`
(reflect), runs the module under `torch.inference_mode()` (entered inside the call: the mode
is thread-local and the GUI calls this from a worker thread), crops the padding back off,
clamps to [0, 1] and returns float32 numpy.

Reduced precision is used only when asked for (``fp16=True``: the model is known to tolerate
it; ``cpu_bf16`` overrides that for the CPU, e.g. spandrel's own bfloat16 support flag for
imported models): float16 on CUDA and MPS, and bfloat16 autocast on a CPU whose bfloat16
convolutions are measured to be clearly faster than float32 (`devices.cpu_bf16_is_fast`;
AVX512-BF16 / AMX CPUs). Under autocast the convolutions run in bfloat16 while additions such as the residual
skip stay in float32, so a residual restorer's output keeps float32 precision outside its
correction. A reduced-precision result with NaN or Inf is thrown away, the tile is run again
in float32 and the processor stays in float32 from then on (overflow in a model is a
property of the model, not of one tile).

``ensemble=True`` runs each tile through the eight flips and transposes of the square
(geometric self-ensemble, as in Lim et al. 2017, "EDSR") and averages the eight results
mapped back: about +0.1-0.2 dB for 8x the time (see README's "Extra quality"). A packed
Bayer tile (``channels=4``) is flipped so that it stays RGGB: a transpose swaps the two
green planes, and a flip shifts the planes whose photosites would otherwise come first
by one (the mosaic's edge repeated), after Liu et al. 2019, "Learning raw image denoising
with Bayer pattern unification and Bayer preserving augmentation". JPEG artifact removal
uses it too: a flip moves the 8x8 block grid to another phase, but the JPEG model was
trained on crops at every phase of the grid (tiles of a photo do not start on it either),
so a flipped tile is as familiar to it as any other (+0.06-0.10 dB on LIVE1, README).

``channels_last=True`` stores the module and its input in NHWC on the CPU, where oneDNN's
convolutions run about 1.2x faster for our networks (measured by ``deconv-gui bench
restore``); it is ignored on other devices.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from deconv_gui.core import devices
from deconv_gui.errors import ModelError

ExtraInput = Callable[[torch.Tensor], torch.Tensor]


class TorchProcessor:
    """A `TileProcessor` around an `nn.Module` (NCHW float in [0, 1] in and out).

    ``device`` is kept as a string ("cpu", "cuda", "mps"). ``extra_input``, when given, is
    called with the (padded) input tensor and its result is passed as the module's second
    argument: ``module(x, extra_input(x))``.
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        scale: int,
        overlap: int,
        device: str | torch.device = "auto",
        fp16: bool = False,
        pad_multiple: int = 1,
        extra_input: ExtraInput | None = None,
        channels_last: bool = False,
        cpu_tile: int | None = None,
        cpu_bf16: bool | None = None,
        channels: int = 3,
        ensemble: bool = False,
    ) -> None:
        if int(scale) < 1:
            raise ValueError(f"scale must be >= 1, got {scale}")
        if int(pad_multiple) < 1:
            raise ValueError(f"pad_multiple must be >= 1, got {pad_multiple}")
        self.scale = int(scale)
        #: channels of a tile in and out: 3 (RGB), 4 for a packed Bayer mosaic
        self.channels = int(channels)
        #: eight flipped/transposed passes per tile, averaged (`_ensemble_forward`)
        self.ensemble = bool(ensemble)
        self.overlap = max(0, int(overlap))
        self.pad_multiple = int(pad_multiple)
        self.extra_input = extra_input
        self.fp16_requested = bool(fp16)
        dev = devices.resolve_device(device)
        self.module = module.eval().to(dev)
        self.device: str = str(dev)
        # Half precision only on accelerators. Tests may set this on the CPU to exercise the
        # NaN fallback (PyTorch runs half convolutions on the CPU, slowly).
        self._use_half = self.fp16_requested and dev.type in ("cuda", "mps")
        # bfloat16 on the CPU: allowed by `cpu_bf16`, or by `fp16` when that is None
        bf16_allowed = self.fp16_requested if cpu_bf16 is None else bool(cpu_bf16)
        self._use_bf16 = bf16_allowed and dev.type == "cpu" and devices.cpu_bf16_is_fast()
        self._half_module: nn.Module | None = None
        self.channels_last = bool(channels_last) and dev.type == "cpu"
        if self.channels_last:
            self.module.to(memory_format=torch.channels_last)
        #: Preferred tile side on the CPU (None: the engine's default); see `tiling`.
        self.cpu_tile = None if cpu_tile is None else int(cpu_tile)
        #: Set when a half-precision result was not finite and the processor went back to fp32.
        self.fp16_disabled_reason: str = ""

    # -- TileProcessor ---------------------------------------------------------------------

    @property
    def uses_fp16(self) -> bool:
        return self._use_half

    @property
    def precision(self) -> str:
        """What the next tile runs in: "float16", "bfloat16" or "float32"."""
        if self._use_half:
            return "float16"
        return "bfloat16" if self._use_bf16 else "float32"

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        if tile.ndim != 3 or tile.shape[2] != self.channels:
            raise ValueError(f"tile must be (h, w, {self.channels}), got {tile.shape}")
        h, w = int(tile.shape[0]), int(tile.shape[1])
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(tile, dtype=np.float32))
            x = x.to(self.device).permute(2, 0, 1).unsqueeze(0)
            x = self._pad(x)
            y = None
            if self._use_half or self._use_bf16:
                y = self._forward(x, half=True)
                if not bool(torch.isfinite(y).all()):
                    self._disable_half(f"the {self.precision} result had NaN/Inf values")
                    y = None
            if y is None:
                y = self._forward(x, half=False)
                if not bool(torch.isfinite(y).all()):
                    raise ModelError("the model produced invalid values (NaN or Inf)")
            y = self._crop(y, h, w)
            # Not in place: an identity-like module may hand back the caller's own pixels.
            out = y.clamp(0.0, 1.0)[0].permute(1, 2, 0).to("cpu", torch.float32)
            return np.ascontiguousarray(out.numpy())

    def recover_from_oom(self) -> None:
        """Free cached device memory after an out-of-memory error."""
        devices.empty_cache(self.device)

    def fallback_to_cpu(self) -> bool:
        """Move the model to the CPU (in fp32). False if it is already there."""
        if torch.device(self.device).type == "cpu":
            return False
        old = self.device
        self._half_module = None
        self._use_half = False
        self._use_bf16 = False
        self.module.to("cpu")
        self.device = "cpu"
        devices.empty_cache(old)
        return True

    # -- internals -------------------------------------------------------------------------

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        m = self.pad_multiple
        h, w = x.shape[-2:]
        ph, pw = (-h) % m, (-w) % m
        if ph == 0 and pw == 0:
            return x
        # Reflect needs the pad to be smaller than the side; tiny tiles repeat the edge.
        mode = "reflect" if ph < h and pw < w else "replicate"
        return F.pad(x, (0, pw, 0, ph), mode=mode)

    def _crop(self, y: torch.Tensor, h: int, w: int) -> torch.Tensor:
        s = self.scale
        h_pad = h + (-h) % self.pad_multiple
        w_pad = w + (-w) % self.pad_multiple
        c = self.channels
        if y.ndim != 4 or y.shape[0] != 1 or y.shape[1] != c:
            raise ModelError(f"the model returned shape {tuple(y.shape)}, expected (1, {c}, H, W)")
        if (y.shape[2], y.shape[3]) != (h_pad * s, w_pad * s):
            raise ModelError(
                f"the model returned {y.shape[2]}x{y.shape[3]} pixels for a {h_pad}x{w_pad} "
                f"input, expected x{s}"
            )
        return y[:, :, : h * s, : w * s]

    def _forward(self, x: torch.Tensor, *, half: bool) -> torch.Tensor:
        if self.ensemble:
            return _ensemble_forward(
                lambda t: self._pass(t, half=half), x, self.scale, self.pad_multiple, self.channels
            )
        return self._pass(x, half=half)

    def _pass(self, x: torch.Tensor, *, half: bool) -> torch.Tensor:
        """One run of the module on ``x``."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if half and self._use_bf16:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self._pass(x, half=False)
        if half:
            if self._half_module is None:
                # A half copy keeps the fp32 weights intact for the fallback.
                self._half_module = copy.deepcopy(self.module).half()
            module = self._half_module
            x = x.half()
        else:
            module = self.module
        if self.extra_input is not None:
            extra = self.extra_input(x)
            if half and extra.is_floating_point():
                extra = extra.half()
            y = module(x, extra)
        else:
            y = module(x)
        if not isinstance(y, torch.Tensor):
            raise ModelError(f"the model returned {type(y).__name__}, expected a tensor")
        return y.float()

    def _disable_half(self, reason: str) -> None:
        self._use_half = False
        self._use_bf16 = False
        self._half_module = None
        self.fp16_disabled_reason = reason


def _ensemble_forward(
    run: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    scale: int,
    multiple: int,
    channels: int,
) -> torch.Tensor:
    """The mean of ``run`` over the eight flips/transposes of ``x`` (N, C, H, W), each
    result mapped back; ``channels == 4``: a packed RGGB mosaic (see the module doc)."""
    bayer = channels == 4
    total: torch.Tensor | None = None
    for transpose in (False, True):
        for vflip in (False, True):
            for hflip in (False, True):
                t = x
                if transpose:
                    t = t.transpose(-2, -1)
                    if bayer:  # G1 (even row, odd column) <-> G2 (odd row, even column)
                        t = t[:, [0, 2, 1, 3]]
                t = _bayer_flip(t, vflip, hflip) if bayer else _flip(t, vflip, hflip)
                h, w = t.shape[-2:]
                ph, pw = (-h) % multiple, (-w) % multiple
                if ph or pw:
                    t = F.pad(t, (0, pw, 0, ph), mode="replicate")
                y = run(t)[..., : h * scale, : w * scale]
                y = _bayer_unflip(y, vflip, hflip) if bayer else _flip(y, vflip, hflip)
                if transpose:
                    if bayer:
                        y = y[:, [0, 2, 1, 3]]
                    y = y.transpose(-2, -1)
                total = y if total is None else total + y
    assert total is not None
    return total / 8.0


def _flip(t: torch.Tensor, vflip: bool, hflip: bool) -> torch.Tensor:
    dims = [d for d, f in ((-2, vflip), (-1, hflip)) if f]
    return t.flip(dims) if dims else t


# Packed planes R, G1, G2, B: which sit in the mosaic's even rows / even columns.
_EVEN_ROW = torch.tensor([True, True, False, False])
_EVEN_COL = torch.tensor([True, False, True, False])


def _bayer_flip(t: torch.Tensor, vflip: bool, hflip: bool) -> torch.Tensor:
    """Flip a packed RGGB mosaic so that it stays RGGB: the mosaic is flipped with one
    repeated photosite row/column added at each side, so planes from even mosaic rows
    (columns) gain a row (column) at their new start and the others at their end."""
    t = _flip(t, vflip, hflip)
    for flipped, even, dim in ((vflip, _EVEN_ROW, -2), (hflip, _EVEN_COL, -1)):
        if not flipped:
            continue
        first = t.narrow(dim, 0, 1)
        last = t.narrow(dim, t.shape[dim] - 1, 1)
        lead = torch.cat([first, t], dim)  # planes whose photosites now come first
        trail = torch.cat([t, last], dim)
        sel = even.to(t.device).view(1, -1, 1, 1)
        t = torch.where(sel, lead, trail)
    return t


def _bayer_unflip(y: torch.Tensor, vflip: bool, hflip: bool) -> torch.Tensor:
    """The inverse of `_bayer_flip` on the network's output."""
    for flipped, even, dim in ((vflip, _EVEN_ROW, -2), (hflip, _EVEN_COL, -1)):
        if not flipped:
            continue
        n = y.shape[dim] - 1
        sel = even.to(y.device).view(1, -1, 1, 1)
        y = torch.where(sel, y.narrow(dim, 1, n), y.narrow(dim, 0, n))
    return _flip(y, vflip, hflip)
