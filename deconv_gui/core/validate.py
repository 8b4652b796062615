"""Checks for the options a user gives, shared by the CLI, the GUI and every run.

Each check returns the value to use or raises `OptionError`, a `DeconvError` whose message
is one line naming the option and the allowed range. The CLI passes the option's flag as
``name`` (``--tile``); the GUI and the core use the plain words. `check_options` is what
every restore goes through (`deconv_gui.core.jobs.restore_job` calls it), so the window, a
batch, the CLI and ``eval`` refuse the same values with the same words.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

from deconv_gui.errors import DeconvError

if TYPE_CHECKING:
    from deconv_gui.core.spec import LoadOptions, RestoreSpec

__all__ = [
    "MAX_THREADS",
    "MAX_TILE",
    "MIN_TILE",
    "OptionError",
    "check_at_least_one",
    "check_finite",
    "check_options",
    "check_range",
    "check_seed",
    "check_strength",
    "check_threads",
    "check_tile_size",
]

#: Smallest tile side (pixels) a run uses: smaller requests are raised to it (a tile that
#: small only multiplies the calls; the engine still gives every pixel its full context).
MIN_TILE = 32
#: Largest tile side accepted (a 65536 px square is 4 gigapixels, far past any memory).
MAX_TILE = 65_536
#: Most CPU threads accepted.
MAX_THREADS = 1024


class OptionError(DeconvError):
    """An option is out of its range or not a number (the message names both)."""


def check_finite(value: float, name: str) -> float:
    """``value`` as a float; NaN and infinities are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise OptionError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise OptionError(f"{name} must be a finite number, got {value}")
    return v


def check_range(value: float, low: float, high: float, name: str) -> float:
    """``value`` as a float within ``low`` .. ``high``; NaN and infinities are refused."""
    v = check_finite(value, name)
    if not low <= v <= high:
        raise OptionError(f"{name} must be between {low:g} and {high:g}, got {v:g}")
    return v


def _whole(value: float, name: str) -> int:
    whole = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer()
    )
    if isinstance(value, bool) or not whole:
        raise OptionError(f"{name} must be a whole number, got {value}")
    return int(value)


def check_at_least_one(value: int, name: str) -> int:
    """A count that must be 1 or more (``--limit``, ``--max-pixels``, ``--steps``)."""
    v = _whole(value, name)
    if v < 1:
        raise OptionError(f"{name} must be at least 1, got {v}")
    return v


def check_threads(value: int, name: str = "thread count") -> int:
    """CPU threads: 1 to `MAX_THREADS`."""
    v = check_at_least_one(value, name)
    if v > MAX_THREADS:
        raise OptionError(f"{name} must be at most {MAX_THREADS}, got {v}")
    return v


def check_seed(value: int, name: str = "seed") -> int:
    """A random seed: 0 or more."""
    v = _whole(value, name)
    if v < 0:
        raise OptionError(f"{name} must be 0 or more, got {v}")
    return v


def check_tile_size(value: int | None, name: str = "tile size") -> int | None:
    """None (automatic) passes; 0 and negative sizes are refused, sizes below `MIN_TILE`
    are raised to it and sizes above `MAX_TILE` refused."""
    if value is None:
        return None
    v = _whole(value, name)
    if v < 1:
        raise OptionError(f"{name} must be at least 1 pixel (leave it out for automatic), got {v}")
    if v > MAX_TILE:
        raise OptionError(f"{name} must be at most {MAX_TILE} pixels, got {v}")
    return max(v, MIN_TILE)


def strength_name(label: str) -> str:
    """A strength's label where it says what the value is ("Noise level"); "" for a plain
    "Strength", so that a message or a card does not say "strength" twice."""
    return "" if label.strip().lower() == "strength" else label


def check_strength(spec: RestoreSpec, value: float | None, name: str = "strength") -> float | None:
    """``value`` within the model's strength range (its card's minimum and maximum).

    None (the model's default or automatic estimate) passes; a strength for a model that
    has no strength control is refused, as are NaN and infinities.
    """
    if value is None:
        return None
    v = check_finite(value, name)
    st = spec.strength
    if st is None:
        raise OptionError(f"model '{spec.id}' has no strength setting (leave out {name})")
    if not st.minimum <= v <= st.maximum:
        named = strength_name(st.label)
        what = f" ({named.lower()})" if named else ""
        raise OptionError(
            f"{name} for '{spec.id}'{what} must be between {st.minimum:g} and "
            f"{st.maximum:g}, got {v:g}"
        )
    return v


def check_options(
    spec: RestoreSpec, options: LoadOptions, tile_size: int | None = None
) -> int | None:
    """The checks every restore goes through; returns the tile size to use.

    The strength must be finite and, for a model with a strength control, within its range
    (a strength given to a model without one is ignored here: the CLI refuses it up front).
    """
    if options.strength is not None:
        if spec.strength is not None:
            check_strength(spec, options.strength)
        else:
            check_finite(options.strength, "strength")
    return check_tile_size(tile_size)
