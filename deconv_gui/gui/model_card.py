"""The model card: what a model is, how it was trained and what it measured, as rich text
(a compact version for tooltips) and in a dialog."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtGui import QImageReader
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from deconv_gui.core.validate import strength_name
from deconv_gui.gui.panel_widgets import plain_degradation
from deconv_gui.models.registry import ModelSpec, plain_description, plain_name, retired_reason
from deconv_gui.paths import resources_dir

#: a comparison's image file names in a card: paths in the repository under ``resources/``,
#: found in the installed app's resources folder (`deconv_gui.paths.resources_dir`)
_RESOURCES_PREFIX = "resources/"


def _format_value(v: Any, depth: int = 0) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) and abs(v) >= 10000:
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.4g}"
    if v is None:
        return "—"
    if isinstance(v, dict):
        if depth > 1:
            return "…"
        return ", ".join(f"{k}: {_format_value(x, depth + 1)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        if depth > 1 or len(v) > 8:
            return f"{len(v)} items"
        return ", ".join(_format_value(x, depth + 1) for x in v)
    return str(v)


# card keys shown in the facts table or skipped in the "more" section
_CARD_SKIP = {
    "id", "name", "task", "scale", "description", "architecture", "params", "receptive_field",
    "fp16", "strength", "evaluation", "training", "comparisons", "pad_multiple",
    "storage_dtype", "display_name", "summary", "order", "cpu_tile", "command", "input",
    "retired",
}  # fmt: skip
_EVAL_COLUMNS = (
    ("set", "Set"),
    ("degrade", "Degradation"),
    ("strength", "Strength"),
    ("channel", "Ch."),
    ("input_psnr", "Input dB"),
    ("psnr", "PSNR dB"),
    ("input_ssim", "Input SSIM"),
    ("ssim", "SSIM"),
)


def _table(rows: list[tuple[str, str]]) -> str:
    e = html.escape
    body = "".join(
        f"<tr><td style='padding-right:12px'><b>{e(k)}</b></td><td>{e(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table>{body}</table>"


def _evaluation_html(evaluation: list[dict]) -> str:
    e = html.escape
    cols = [(k, t) for k, t in _EVAL_COLUMNS if any(row.get(k) is not None for row in evaluation)]
    head = "".join(f"<th align='left' style='padding-right:10px'>{e(t)}</th>" for _, t in cols)
    rows = []
    for row in evaluation:
        cells = "".join(
            f"<td style='padding-right:10px'>{e(_eval_cell(k, row.get(k)))}</td>" for k, _ in cols
        )
        rows.append(f"<tr>{cells}</tr>")
    note = "<p>PSNR in dB and SSIM (0-1): higher is better. The commands that measured them "
    note += "are in the model's card file and the README.</p>"
    return f"<h4>Measured quality</h4><table>{'<tr>' + head + '</tr>'}{''.join(rows)}</table>{note}"


def _eval_cell(key: str, value: Any) -> str:
    """One cell of the quality table: a strength set by Auto reads "Auto" (two rows of the
    same degradation, one on Auto and one set by hand, must not look alike); decibels with
    two decimals and SSIM with four, so that a column lines up (15.00, not 15)."""
    if key == "strength" and value == "auto":
        return "Auto"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if key in ("psnr", "input_psnr"):
            return f"{value:.2f}"
        if key in ("ssim", "input_ssim"):
            return f"{value:.4f}"
    return _format_value(value)


def _comparisons(spec: ModelSpec) -> list[dict]:
    """The card's ``comparisons`` entries (crops to judge by eye) that are objects."""
    return [c for c in (spec.card or {}).get("comparisons") or [] if isinstance(c, dict)]


def comparison_images(spec: ModelSpec) -> list[list[Path]]:
    """Per comparison in a bundled model's card (``comparisons``: crops to judge by eye), the
    image files that exist in the app's resources. Only bundled models: an imported card's
    paths are not followed, and none may leave the resources folder."""
    if spec.kind != "bundled":
        return []
    root = resources_dir().resolve()
    out = []
    for c in _comparisons(spec):
        files = c.get("files")
        found = []
        for f in files if isinstance(files, list) else []:
            if not isinstance(f, str) or not f.startswith(_RESOURCES_PREFIX):
                continue
            path = (root / f.removeprefix(_RESOURCES_PREFIX)).resolve()
            if path.is_relative_to(root) and path.is_file():
                found.append(path)
        out.append(found)
    return out


def _comparisons_html(spec: ModelSpec) -> str:
    """The card's crops of real photos, at their own size (scaling would blur the noise
    they are there to show), each comparison with what it shows and what was seen."""
    e = html.escape
    parts = []
    for c, images in zip(_comparisons(spec), comparison_images(spec), strict=False):
        if not images:
            continue
        what = str(c.get("what") or "")
        parts.append(f"<p>{e(what)}</p>" if what else "")
        for path in images:
            words = path.stem.split("_")  # rni15_x4_Audrey_Hepburn: the photo's name
            while len(words) > 1 and any(ch.isdigit() for ch in words[0]):
                words = words[1:]
            name = " ".join(words)
            src = e(path.as_uri(), quote=True)
            parts.append(f'<p><img src="{src}"><br><i>{e(name)}</i></p>')
        seen = str(c.get("seen") or "")
        if seen:
            parts.append(f"<p>Seen: {e(seen)}</p>")
    return "<h4>Compared by eye</h4>" + "".join(parts) if parts else ""


def card_html(spec: ModelSpec, *, short: bool = False) -> str:
    """The model card as rich text (a compact tooltip when `short`)."""
    e = html.escape
    card = dict(spec.card or {})
    arch = card.get("architecture", spec.architecture)
    if isinstance(arch, dict):
        arch = arch.get("name", "")
    kinds = {"bundled": "Included with the app", "classical": "Classic method (no neural "
             "network)", "imported": "Imported by you", "finetuned": "Fine-tuned by you"}  # fmt: skip
    facts = [("Kind", kinds.get(spec.kind, spec.kind))]
    why = retired_reason(spec)
    if why is not None:
        facts.append(("Retired", why))
    if arch:
        facts.append(("Architecture", str(arch)))
    if isinstance(card.get("params"), int):
        facts.append(("Parameters", f"{card['params']:,}"))
    facts.append(("Context", f"{spec.receptive_field} px per side"))
    if spec.strength:
        st = spec.strength
        named = strength_name(st.label)
        label = f"{named} " if named else ""
        facts.append(
            ("Strength", f"{label}{st.minimum:g}–{st.maximum:g}" + (" or Auto" if st.auto else ""))
        )
    if spec.fp16:
        facts.append(("Reduced precision", "float16 on GPUs, bfloat16 on CPUs that support it"))
    evaluation = [r for r in card.get("evaluation") or [] if isinstance(r, dict)]
    if short:
        for r in evaluation[:3]:
            degrade = plain_degradation(str(r.get("degrade") or ""))
            label = f"{r.get('set', '?')}, {degrade}" if degrade else str(r.get("set", "?"))
            label += " (Auto)" if r.get("strength") == "auto" else ""  # as the panel's lines
            facts.append(
                (
                    label,
                    f"{_eval_cell('psnr', r.get('psnr'))} dB, SSIM {_eval_cell('ssim', r.get('ssim'))}",
                )
            )
        return (
            f"<div style='max-width:380px'><b>{e(plain_name(spec))}</b><br>"
            f"{e(plain_description(spec))}{_table(facts)}</div>"
        )
    parts = [
        f"<h3 style='margin-bottom:2px'>{e(plain_name(spec))}</h3>"
        f"<p>{e(plain_description(spec))}</p>",
        _table([("Name", spec.name), *facts]),
    ]
    if spec.description and spec.description != plain_description(spec):
        parts.append(f"<h4>How it works</h4><p>{e(spec.description)}</p>")
    if evaluation:
        parts.append(_evaluation_html(evaluation))
    parts.append(_comparisons_html(spec))
    training = card.get("training")
    if isinstance(training, dict):
        rows = [
            (k.replace("_", " ").capitalize(), _format_value(v))
            for k, v in training.items()
            if k not in ("sessions", "curve", "command") and v not in (None, {}, [])
        ]
        parts.append("<h4>Training</h4>" + _table(rows))
    more = [
        (str(k).replace("_", " ").capitalize(), _format_value(v))
        for k, v in card.items()
        if k not in _CARD_SKIP and v not in (None, {}, [], "")
    ]
    if more:
        parts.append("<h4>More</h4>" + _table(more))
    return "<div>" + "".join(parts) + "</div>"


class ModelCardDialog(QDialog):
    def __init__(self, spec: ModelSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model card: {spec.name}")
        self.resize(self.width_for(spec), 560)
        lay = QVBoxLayout(self)
        view = QTextBrowser(self)
        view.setOpenExternalLinks(True)
        view.setHtml(card_html(spec))
        lay.addWidget(view)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)

    def width_for(self, spec: ModelSpec) -> int:
        """Wide enough for the card's crops at their own size (584-1036 px: scaled down they
        would blur the noise they show), within the screen; at least 640."""
        widest = max(
            (QImageReader(str(p)).size().width() for c in comparison_images(spec) for p in c),
            default=0,
        )
        screen = self.screen().availableGeometry().width() if self.screen() else 1280
        return max(640, min(widest + 80, screen - 40))
