"""Self-supervised sampling of noisy images (any channel count, NCHW tensors).

* `neighbour_subsample` (Neighbor2Neighbor, Huang et al., CVPR 2021): two half-size images
  made of neighbouring pixels of each 2x2 cell. For noise that is independent from pixel to
  pixel, their noises are independent while their signals nearly match, so one is a noisy
  target for the other (Noise2Noise, Lehtinen et al. 2018).
* `cell_image` / `neighbours_of`: the same split made deterministically, every cell
  position once, for a held-out loss that does not depend on a random draw.
* `blind_spot` (Noise2Void, Krull et al., CVPR 2019): a few pixels replaced by a random
  neighbour, the loss taken on them only.
"""

from __future__ import annotations

import torch

# cell positions (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) and, per first
# pick, the two positions next to it (horizontal and vertical neighbours, not the diagonal)
_NEIGHBOURS = torch.tensor([[1, 2], [0, 3], [3, 0], [2, 1]])
N2V_FRACTION = 0.02  # share of pixels hidden per patch (blind-spot training)
N2V_RADIUS = 2  # neighbour replacement window: (2r+1)^2 minus the centre


def _cells(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W), H and W even -> (B, C, H/2, W/2, 4): the four pixels of each cell."""
    b, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"sub-sampling needs even sides, got {h}x{w}")
    cells = x.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5)
    return cells.reshape(b, c, h // 2, w // 2, 4)


def split_cells(x: torch.Tensor, first: torch.Tensor, second: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Pick cell positions ``first`` and ``second`` ((B, 1, H/2, W/2) ints in 0-3, same for
    every channel) of ``x``: two (B, C, H/2, W/2) images."""
    cells = _cells(x)
    c = x.shape[1]
    g1 = torch.gather(cells, 4, first.unsqueeze(-1).expand(-1, c, -1, -1, 1)).squeeze(-1)
    g2 = torch.gather(cells, 4, second.unsqueeze(-1).expand(-1, c, -1, -1, 1)).squeeze(-1)
    return g1, g2


def random_neighbour_picks(x: torch.Tensor, gen: torch.Generator
                           ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """A random cell position per cell of ``x`` and a random neighbour of it."""
    b, _, h, w = x.shape
    first = torch.randint(0, 4, (b, 1, h // 2, w // 2), generator=gen)
    which = torch.randint(0, 2, (b, 1, h // 2, w // 2), generator=gen)
    second = _NEIGHBOURS[first, which]
    return first, second


def neighbour_subsample(x: torch.Tensor, gen: torch.Generator
                        ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Neighbor2Neighbor's random neighbour sub-sampler: (g1(x), g2(x)), half size each."""
    first, second = random_neighbour_picks(x, gen)
    return split_cells(x, first, second)


def neighbours_of(position: int) -> tuple[int, int]:
    """The two cell positions next to ``position`` (horizontally and vertically)."""
    return int(_NEIGHBOURS[position, 0]), int(_NEIGHBOURS[position, 1])


def cell_image(x: torch.Tensor, position: int) -> torch.Tensor:
    """The half-size image of cell position ``position`` (0-3) of ``x``."""
    return _cells(x)[..., position]


def blind_spot(
    x: torch.Tensor, gen: torch.Generator, fraction: float = N2V_FRACTION, radius: int = N2V_RADIUS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise2Void masking: (masked input, mask (B, 1, H, W)). A ``fraction`` of the pixels
    (all channels together) is replaced by a random other pixel within ``radius``."""
    b, c, h, w = x.shape
    mask = torch.rand((b, 1, h, w), generator=gen) < fraction
    dy = torch.randint(-radius, radius + 1, (b, 1, h, w), generator=gen)
    dx = torch.randint(-radius, radius + 1, (b, 1, h, w), generator=gen)
    same = (dy == 0) & (dx == 0)
    dx = torch.where(same, torch.where(torch.rand((b, 1, h, w), generator=gen) < 0.5, 1, -1), dx)
    yy = torch.arange(h).view(1, 1, h, 1).expand(b, 1, h, w)
    xx = torch.arange(w).view(1, 1, 1, w).expand(b, 1, h, w)
    sy = (yy + dy).clamp(0, h - 1)
    sx = (xx + dx).clamp(0, w - 1)
    # clamping at the border may land on the pixel itself: reflect instead
    sy = torch.where(sy == yy, (yy - dy).clamp(0, h - 1), sy)
    sx = torch.where((sx == xx) & (sy == yy), (xx - dx).clamp(0, w - 1), sx)
    flat = (sy * w + sx).view(b, 1, h * w).expand(b, c, h * w)
    neighbours = torch.gather(x.reshape(b, c, h * w), 2, flat).view(b, c, h, w)
    out = torch.where(mask, neighbours, x)
    return out, mask.float()
