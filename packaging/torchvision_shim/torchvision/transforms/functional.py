"""Ports of torchvision 0.29 ``transforms.functional.{normalize, rotate, InterpolationMode}``.

Tensor inputs only (spandrel passes tensors). Ported from torchvision/transforms/functional.py
and _functional_tensor.py (BSD-3-Clause, Copyright (c) Soumith Chintala 2016).
"""

from __future__ import annotations

import math
from enum import Enum

import torch
from torch import Tensor
from torch.nn.functional import grid_sample


class InterpolationMode(Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


_FROM_INT = {
    0: InterpolationMode.NEAREST,
    2: InterpolationMode.BILINEAR,
    3: InterpolationMode.BICUBIC,
    4: InterpolationMode.BOX,
    5: InterpolationMode.HAMMING,
    1: InterpolationMode.LANCZOS,
}


def _need_tensor(img: object) -> None:
    if not isinstance(img, torch.Tensor):
        raise TypeError(
            f"this torchvision stand-in takes tensors only, got {type(img).__name__} "
            "(the Deconv GUI CPU bundle ships no full torchvision)"
        )
    if img.ndim < 2:
        raise TypeError(f"Tensor is not a torch image: {img.ndim} dimensions")


def normalize(tensor: Tensor, mean: list[float], std: list[float], inplace: bool = False) -> Tensor:
    _need_tensor(tensor)
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError(
            "Expected tensor to be a tensor image of size (..., C, H, W). "
            f"Got tensor.size() = {tensor.size()}"
        )
    if not inplace:
        tensor = tensor.clone()
    dtype = tensor.dtype
    mean_t = torch.as_tensor(mean, dtype=dtype, device=tensor.device)
    std_t = torch.as_tensor(std, dtype=dtype, device=tensor.device)
    if (std_t == 0).any():
        raise ValueError(
            f"std evaluated to zero after conversion to {dtype}, leading to division by zero."
        )
    if mean_t.ndim == 1:
        mean_t = mean_t.view(-1, 1, 1)
    if std_t.ndim == 1:
        std_t = std_t.view(-1, 1, 1)
    return tensor.sub_(mean_t).div_(std_t)


def _inverse_rotation_matrix(center: list[float], angle: float) -> list[float]:
    # torchvision's _get_inverse_affine_matrix with translate 0, scale 1, shear 0.
    rot = math.radians(angle)
    a, b = math.cos(rot), -math.sin(rot)
    c, d = math.sin(rot), math.cos(rot)
    cx, cy = center
    matrix = [d, -b, 0.0, -c, a, 0.0]
    matrix[2] += matrix[0] * (-cx) + matrix[1] * (-cy) + cx
    matrix[5] += matrix[3] * (-cx) + matrix[4] * (-cy) + cy
    return matrix


def _affine_output_size(matrix: list[float], w: int, h: int) -> tuple[int, int]:
    pts = torch.tensor(
        [[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0], [0.5 * w, 0.5 * h, 1.0],
         [0.5 * w, -0.5 * h, 1.0]]
    )  # fmt: skip
    theta = torch.tensor(matrix, dtype=torch.float).view(2, 3)
    new_pts = torch.matmul(pts, theta.T)
    min_vals, _ = new_pts.min(dim=0)
    max_vals, _ = new_pts.max(dim=0)
    min_vals += torch.tensor((w * 0.5, h * 0.5))
    max_vals += torch.tensor((w * 0.5, h * 0.5))
    tol = 1e-4
    cmax = torch.ceil((max_vals / tol).trunc_() * tol)
    cmin = torch.floor((min_vals / tol).trunc_() * tol)
    size = cmax - cmin
    return int(size[0]), int(size[1])


def _affine_grid(theta: Tensor, w: int, h: int, ow: int, oh: int) -> Tensor:
    d = 0.5
    base_grid = torch.empty(1, oh, ow, 3, dtype=theta.dtype, device=theta.device)
    x_grid = torch.linspace(-ow * 0.5 + d, ow * 0.5 + d - 1, steps=ow, device=theta.device)
    base_grid[..., 0].copy_(x_grid)
    y_grid = torch.linspace(
        -oh * 0.5 + d, oh * 0.5 + d - 1, steps=oh, device=theta.device
    ).unsqueeze_(-1)
    base_grid[..., 1].copy_(y_grid)
    base_grid[..., 2].fill_(1)
    rescaled_theta = theta.transpose(1, 2) / torch.tensor(
        [0.5 * w, 0.5 * h], dtype=theta.dtype, device=theta.device
    )
    output_grid = base_grid.view(1, oh * ow, 3).bmm(rescaled_theta)
    return output_grid.view(1, oh, ow, 2)


def _apply_grid(img: Tensor, grid: Tensor, mode: str, fill) -> Tensor:
    need_squeeze = img.ndim < 4
    if need_squeeze:
        img = img.unsqueeze(dim=0)
    out_dtype = img.dtype
    need_cast = out_dtype != grid.dtype
    if need_cast:
        img = img.to(grid.dtype)
    if img.shape[0] > 1:
        grid = grid.expand(img.shape[0], grid.shape[1], grid.shape[2], grid.shape[3])
    if fill is not None:
        mask = torch.ones(
            (img.shape[0], 1, img.shape[2], img.shape[3]), dtype=img.dtype, device=img.device
        )
        img = torch.cat((img, mask), dim=1)
    img = grid_sample(img, grid, mode=mode, padding_mode="zeros", align_corners=False)
    if fill is not None:
        mask = img[:, -1:, :, :]
        img = img[:, :-1, :, :]
        mask = mask.expand_as(img)
        fill_list, len_fill = (
            (fill, len(fill)) if isinstance(fill, (tuple, list)) else ([float(fill)], 1)
        )
        fill_img = (
            torch.tensor(fill_list, dtype=img.dtype, device=img.device)
            .view(1, len_fill, 1, 1)
            .expand_as(img)
        )
        if mode == "nearest":
            mask = mask < 0.5
            img[mask] = fill_img[mask]
        else:
            img = img * mask + (1.0 - mask) * fill_img
    if need_squeeze:
        img = img.squeeze(dim=0)
    if need_cast:
        if out_dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
            img = torch.round(img)
        img = img.to(out_dtype)
    return img


def rotate(
    img: Tensor,
    angle: float,
    interpolation: InterpolationMode = InterpolationMode.NEAREST,
    expand: bool = False,
    center: list[int] | None = None,
    fill: list[float] | None = None,
) -> Tensor:
    if isinstance(interpolation, int):
        interpolation = _FROM_INT[interpolation]
    elif not isinstance(interpolation, InterpolationMode):
        raise TypeError(
            "Argument interpolation should be a InterpolationMode or a corresponding Pillow "
            "integer constant"
        )
    if not isinstance(angle, (int, float)):
        raise TypeError("Argument angle should be int or float")  # as torchvision does
    if center is not None and not isinstance(center, (list, tuple)):
        raise TypeError("Argument center should be a sequence")
    _need_tensor(img)
    if interpolation.value not in ("nearest", "bilinear"):
        raise ValueError(
            f"Interpolation mode '{interpolation.value}' is unsupported with Tensor input"
        )
    h, w = img.shape[-2], img.shape[-1]
    center_f = [0.0, 0.0]
    if center is not None:
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [w, h], strict=False)]
    matrix = _inverse_rotation_matrix(center_f, -angle)
    ow, oh = _affine_output_size(matrix, w, h) if expand else (w, h)
    dtype = img.dtype if torch.is_floating_point(img) else torch.float32
    theta = torch.tensor(matrix, dtype=dtype, device=img.device).reshape(1, 2, 3)
    grid = _affine_grid(theta, w=w, h=h, ow=ow, oh=oh)
    return _apply_grid(img, grid, interpolation.value, fill)


__all__ = ["InterpolationMode", "normalize", "rotate"]
