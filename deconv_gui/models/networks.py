"""The bundled network architectures (no Qt, no I/O).

Two families, both from the deconvolution lineage the app started from, sized to train and
run fast on a CPU:

* `RedUNet`: a RED-Net / small U-Net. The image is pixel-unshuffled to half resolution (so
  nearly all compute runs at 1/2 and 1/4 resolution), a conv encoder, a strided-conv down
  step, a bottleneck, a ConvTranspose2d ("deconvolution") up step with an additive skip
  connection, and a pixel-shuffle back to full resolution. The net predicts the correction
  (residual learning, DnCNN). With ``noise_map=True`` it takes an FFDNet-style noise-level map
  as an extra input channel (the blind denoiser's strength control). Used for denoise and
  deblur.
* `FSRCNNPlus`: FSRCNN-style super-resolution. All features are computed at the low
  resolution; a final ConvTranspose2d upsamples by ``scale`` and its output is added to a
  bicubic upsample of the input (global residual).

Every network is an ``nn.Module`` that maps NCHW float in [0, 1] to NCHW float (scale times
larger for SR). `build_network(arch, hparams)` rebuilds a module from the ``architecture``
block of a model card; `receptive_field()` gives the context radius (input pixels) a tile
needs on each side, checked empirically by ``tests/core/test_networks.py``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

NOISE_MAP_SCALE = 75.0  # the noise-level map carries sigma255 / NOISE_MAP_SCALE


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=(k - 1) // 2 if stride == 1 else 0)


class ResBlock(nn.Module):
    """conv-ReLU-conv with an identity skip (EDSR style, no batch norm)."""

    def __init__(self, ch: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.conv1 = _conv(ch, ch)
        self.conv2 = _conv(ch, ch)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # one fused add (no separate multiply): this runs on the largest tensors in the net
        return torch.add(x, self.conv2(F.relu(self.conv1(x), inplace=True)), alpha=self.res_scale)


class RedUNet(nn.Module):
    """Two-level residual U-Net with a transposed-convolution up-path (see module doc).

    Args:
        channels: (c1, c2) feature channels at 1/2 and 1/4 resolution.
        enc_blocks / mid_blocks / dec_blocks: residual blocks (2 convs each) per stage.
        noise_map: take an FFDNet-style noise-level map (one channel) as extra input.
        map_ch: 0 for that one-channel map (a constant, or a per-pixel map averaged to the
            network's resolution); N > 0 for a per-pixel map of N channels at the input's
            resolution, unshuffled with the image (the RAW denoiser's 4-plane noise
            standard deviation, one per Bayer plane).
        in_ch: image channels (3 for RGB, 4 for a packed Bayer mosaic).
    """

    arch = "redunet"

    def __init__(
        self,
        channels: tuple[int, int] | list[int] = (64, 128),
        enc_blocks: int = 1,
        mid_blocks: int = 2,
        dec_blocks: int = 1,
        noise_map: bool = False,
        in_ch: int = 3,
        map_ch: int = 0,
    ) -> None:
        super().__init__()
        c1, c2 = int(channels[0]), int(channels[1])
        self.in_ch = in_ch
        self.noise_map = noise_map
        self.map_ch = int(map_ch) if noise_map else 0
        self.hparams: dict[str, Any] = {
            "channels": [c1, c2],
            "enc_blocks": enc_blocks,
            "mid_blocks": mid_blocks,
            "dec_blocks": dec_blocks,
            "noise_map": noise_map,
            "in_ch": in_ch,
        }
        if self.map_ch:
            self.hparams["map_ch"] = self.map_ch
        head_in = (in_ch + self.map_ch) * 4 + (1 if noise_map and not self.map_ch else 0)
        self.head = _conv(head_in, c1)
        self.enc = nn.Sequential(*[ResBlock(c1) for _ in range(enc_blocks)])
        self.down = nn.Conv2d(c1, c2, 2, stride=2)
        self.mid = nn.Sequential(*[ResBlock(c2) for _ in range(mid_blocks)])
        self.up = nn.ConvTranspose2d(c2, c1, 2, stride=2)
        self.dec = nn.Sequential(*[ResBlock(c1) for _ in range(dec_blocks)])
        self.tail = _conv(c1, in_ch * 4)
        nn.init.zeros_(self.tail.weight)  # starts as the identity (residual learning)
        if self.tail.bias is not None:
            nn.init.zeros_(self.tail.bias)

    pad_multiple = 4

    def receptive_field(self) -> int:
        """Radius (full-resolution input px) outside which a pixel cannot change an output.

        Half-res radius: head 1, encoder 2/block, the quarter-res path 2*(1 + 2*mid) plus the
        2x2 down/up alignment (2), decoder 2/block, tail 1; x2 for full resolution, +1 for the
        2x2 unshuffle alignment.
        """
        hp = self.hparams
        half = 1 + 2 * hp["enc_blocks"] + 2 * (2 * hp["mid_blocks"]) + 2 + 2 * hp["dec_blocks"] + 1
        return 2 * half + 1

    def forward(
        self, x: torch.Tensor, noise_map: torch.Tensor | float | None = None
    ) -> torch.Tensor:
        if self.noise_map and noise_map is None and x.shape[1] == self.in_ch + (self.map_ch or 1):
            x, noise_map = x[:, : self.in_ch], x[:, self.in_ch :]
        n, _, h, w = x.shape
        ph, pw = (-h) % self.pad_multiple, (-w) % self.pad_multiple
        xp = F.pad(x, (0, pw, 0, ph), mode="replicate") if (ph or pw) else x
        if self.map_ch:
            if not isinstance(noise_map, torch.Tensor) or noise_map.shape[-2:] != (h, w):
                raise ValueError(f"this network needs a ({self.map_ch}, H, W) noise map")
            m = noise_map.to(x)
            m = F.pad(m, (0, pw, 0, ph), mode="replicate") if (ph or pw) else m
            feats = F.pixel_unshuffle(torch.cat([xp, m], 1), 2)
        else:
            feats = F.pixel_unshuffle(xp, 2)
        if self.noise_map and not self.map_ch:
            hh, ww = feats.shape[-2:]
            if noise_map is None:
                raise ValueError("this network needs a noise-level map")
            if not isinstance(noise_map, torch.Tensor):
                m = torch.full((n, 1, hh, ww), float(noise_map), dtype=x.dtype, device=x.device)
            elif noise_map.dim() <= 1 or noise_map.shape[-2:] == (1, 1):
                m = noise_map.to(x).reshape(-1, 1, 1, 1).expand(n, 1, hh, ww)
            else:
                m = noise_map.to(x)
                if ph or pw:
                    m = F.pad(m, (0, pw, 0, ph), mode="replicate")
                m = F.avg_pool2d(m, 2)
            feats = torch.cat([feats, m], 1)
        f1 = self.enc(F.relu(self.head(feats), inplace=True))
        f2 = self.mid(F.relu(self.down(f1), inplace=True))
        f = self.dec(F.relu(self.up(f2), inplace=True) + f1)
        out = xp + F.pixel_shuffle(self.tail(f), 2)
        return out[:, :, :h, :w]


class FSRCNNPlus(nn.Module):
    """FSRCNN-style SR: features at low resolution, a ConvTranspose2d upsampler, plus bicubic.

    Args:
        scale: 2, 3 or 4.
        channels: feature channels (FSRCNN's d).
        blocks: residual blocks at low resolution (FSRCNN's mapping layers).
        upsampler: "deconv" (ConvTranspose2d, kernel `deconv_kernel`) or "pixelshuffle"
            (conv to 3*s*s channels + PixelShuffle), the layer-choice comparison.
    """

    arch = "fsrcnnplus"

    def __init__(
        self,
        scale: int = 2,
        channels: int = 64,
        blocks: int = 4,
        upsampler: str = "deconv",
        deconv_kernel: int = 9,
        in_ch: int = 3,
    ) -> None:
        super().__init__()
        if upsampler not in ("deconv", "pixelshuffle"):
            raise ValueError(f"unknown upsampler {upsampler!r}")
        self.scale = int(scale)
        self.in_ch = in_ch
        self.hparams: dict[str, Any] = {
            "scale": self.scale,
            "channels": channels,
            "blocks": blocks,
            "upsampler": upsampler,
            "deconv_kernel": deconv_kernel,
            "in_ch": in_ch,
        }
        s, k = self.scale, deconv_kernel
        self.head = _conv(in_ch, channels, 5)
        self.body = nn.Sequential(*[ResBlock(channels) for _ in range(blocks)])
        self.body_tail = _conv(channels, channels)
        if upsampler == "deconv":
            # output size (H-1)*s - 2p + k + op == s*H  =>  2p - op == k - s
            p = math.ceil((k - s) / 2)
            op = 2 * p - (k - s)
            self.up: nn.Module = nn.ConvTranspose2d(
                channels, in_ch, k, stride=s, padding=p, output_padding=op
            )
            self._up_reach = math.ceil(k / s) + 1
        else:
            self.up = nn.Sequential(_conv(channels, in_ch * s * s), nn.PixelShuffle(s))
            self._up_reach = 1
        for m in self.up.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, std=1e-3)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    pad_multiple = 1

    def receptive_field(self) -> int:
        """Radius in input (low-resolution) pixels: head 2, 2/block, body tail 1, the
        upsampler's reach, and the bicubic skip (2)."""
        hp = self.hparams
        return max(2 + 2 * hp["blocks"] + 1 + self._up_reach, 2) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = F.relu(self.head(x), inplace=True)
        f = self.body_tail(self.body(f)) + f
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return base + self.up(f)


ARCHITECTURES: dict[str, type[nn.Module]] = {
    RedUNet.arch: RedUNet,
    FSRCNNPlus.arch: FSRCNNPlus,
}


def build_network(arch: str, hparams: dict[str, Any]) -> nn.Module:
    """Rebuild a network from a card's ``architecture`` block (``{"name":..., "hparams":...}``)."""
    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(
            f"unknown architecture {arch!r} (known: {', '.join(ARCHITECTURES)})"
        ) from None
    return cls(**hparams)


def network_scale(net: nn.Module) -> int:
    return int(getattr(net, "scale", 1))


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
