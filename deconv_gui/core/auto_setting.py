"""What Auto chose: the strength each step's Auto measured, carried in a result's metadata
so that the CLI (``(Auto: noise level 17)``, ``--json``'s ``auto``) and the app's line
under Run can say it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from deconv_gui.core.jpeg_quality import left_as_it_is

if TYPE_CHECKING:
    from deconv_gui.core.image import ImageMeta

#: the JPEG artifact remover's task (its strength is the JPEG quality)
JPEG_TASK = "jpeg"
#: the RAW denoiser's task: Auto is the noise profile it reads (`core.raw_noise`), said as
#: the ISO of a full-frame camera with that much shot noise (`raw_iso_equivalent`)
RAW_TASK = "raw-denoise"

#: ``meta.extra`` key: the strengths Auto chose in the steps that made a result, oldest
#: first (`AutoSetting`s; `auto_settings` reads them)
AUTO = "auto"

# nominal third-stop ISO settings of one decade, as cameras name them
_THIRD_STOPS = (100, 125, 160, 200, 250, 320, 400, 500, 640, 800)


@dataclass(frozen=True)
class AutoSetting:
    """The strength Auto chose for one step: the model, its strength's name (``label``,
    e.g. "Noise level"), the value measured on the step's input and the model's task."""

    model: str
    label: str
    value: float
    task: str

    @property
    def strength(self) -> float:
        """The strength Auto ran at, in the model's strength units (where the slider
        stands): the value, except for the RAW denoiser, whose Auto removes 100 % of the
        noise it reads (the value is that noise, as a full-frame ISO)."""
        return 100.0 if self.task == RAW_TASK else self.value

    def number(self, v: float | None = None) -> str:
        """The value (or ``v``) as said to the user: ``17``, one decimal below 10 (``2.4``,
        ``3``)."""
        v = self.value if v is None else v
        return f"{v:.0f}" if abs(v) >= 10 else f"{v:.1f}".removesuffix(".0")

    def text(self) -> str:
        """``noise level 17`` (an acronym keeps its capitals: ``JPEG quality 60``). A JPEG
        quality of 100 is what Auto sets where it finds no compression (a PNG that never was
        a JPEG) as well as for a file saved at 100: either way nothing to remove, and saying
        "JPEG quality 100" of a photo that never was one would mislead. The RAW denoiser's
        Auto removes 100 % of the noise it reads: said as the full-frame ISO that has as much
        shot noise (``noise like ISO 3200 on a full-frame camera``)."""
        label = self.label
        if self.task == JPEG_TASK and self.value >= 100:
            return "no JPEG artifacts found"
        if self.task == JPEG_TASK and left_as_it_is(self.value, auto=True):
            return f"JPEG quality {self.number()}: fine enough to leave as it is"
        if self.task == RAW_TASK:
            return raw_noise_words(self.value)
        if not label[:2].isupper():
            label = label[:1].lower() + label[1:]
        return f"{label} {self.number()}"


def nominal_iso(iso: float) -> int:
    """The nearest third-stop ISO setting as cameras name it (3170 -> 3200, 1180 -> 1250,
    13000 -> 12800)."""
    if not math.isfinite(iso) or iso <= 0:
        return 0
    return min(_ISO_SETTINGS, key=lambda s: abs(math.log(s / iso)))


def _iso_settings() -> tuple[int, ...]:
    """Full stops double from 100 (6400, 12800, 25600); the thirds between them take the
    decimal names of `_THIRD_STOPS` (8000, 10000, 16000)."""
    names = [s * 10.0**d for d in range(-2, 5) for s in _THIRD_STOPS]
    out = set()
    for k in range(-6, 14):
        full = 100.0 * 2.0**k
        out.add(round(full))
        for j in (1, 2):
            third = full * 2.0 ** (j / 3)
            out.add(round(min(names, key=lambda n: abs(math.log(n / third)))))
    return tuple(sorted(s for s in out if s >= 1))


_ISO_SETTINGS = _iso_settings()


def raw_noise_words(iso: float) -> str:
    """A RAW file's noise, given as the ISO of a full-frame camera with as much shot noise
    (`raw_iso_equivalent`), in a photographer's words."""
    nominal = nominal_iso(iso)
    if nominal < 50:
        return "very little noise, less than ISO 50 on a full-frame camera"
    return f"noise like ISO {nominal} on a full-frame camera"


def raw_iso_equivalent(shot: float) -> float:
    """The ISO at which a full-frame camera (`core.raw_noise.reference_profile`) has the shot
    noise ``shot`` (variance per unit of normalised signal)."""
    from deconv_gui.core.raw_noise import FULL_FRAME_ELECTRONS_AT_WHITE

    return float(shot) * FULL_FRAME_ELECTRONS_AT_WHITE * 100.0


def auto_settings(meta: ImageMeta | None) -> tuple[AutoSetting, ...]:
    """The `AutoSetting`s recorded in a result's metadata (none for a photo as loaded)."""
    held = (meta.extra or {}).get(AUTO, ()) if meta is not None else ()
    return tuple(a for a in held if isinstance(a, AutoSetting))
