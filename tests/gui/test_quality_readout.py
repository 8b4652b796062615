"""The quality readout in a photographer's words: change vs input, before -> after with a
coloured gain and a verdict against a reference, digits, tooltips, the overlay controls."""

from __future__ import annotations

import math

import pytest
from PySide6.QtGui import QColor

from deconv_gui.gui.quality import (
    BETTER_DB,
    CHANGED_A_LOT_SSIM,
    CHANGED_LITTLE_SSIM,
    change_verdict,
    gain_verdict,
)
from deconv_gui.gui.quality_panel import QualityPanel, Readout
from deconv_gui.gui.theme import verdict_colour


@pytest.fixture
def panel(qtbot):
    p = QualityPanel()
    qtbot.addWidget(p)
    p.show()
    return p


def colour_of(label) -> QColor | None:
    sheet = label.styleSheet()
    return QColor(sheet.split("color:")[1].strip(" ;")) if "color:" in sheet else None


def test_change_verdict_thresholds():
    assert change_verdict(1.0) == change_verdict(CHANGED_LITTLE_SSIM) == "changed little"
    assert change_verdict(CHANGED_LITTLE_SSIM - 1e-6) == "changed moderately"
    assert change_verdict(CHANGED_A_LOT_SSIM) == "changed moderately"
    assert change_verdict(CHANGED_A_LOT_SSIM - 1e-6) == change_verdict(0.1) == "changed a lot"


@pytest.mark.parametrize(
    ("d_ssim", "d_db", "word", "kind"),
    [
        (0.10, 6.0, "Clearly better", "good"),
        (0.01, BETTER_DB + 0.1, "Better", "good"),
        (0.0, 0.1, "About the same", ""),
        (-0.05, 1.0, "Worse", "bad"),  # PSNR up but the structure got worse
        (0.0, -1.0, "Worse", "bad"),
    ],
)
def test_gain_verdict(d_ssim, d_db, word, kind):
    text, got = gain_verdict(0.6, 0.6 + d_ssim, 25.0, 25.0 + d_db, "the clean original")
    assert text.startswith(word + ":") and got == kind
    assert "the clean original" in text


def test_identical_to_the_reference_is_better():
    text, kind = gain_verdict(0.9, 1.0, 30.0, math.inf)
    assert kind == "good"


def test_against_the_input_it_says_it_measures_change(panel):
    panel.show_readout(Readout(after_ssim=0.9812, after_psnr=38.456))
    assert panel.after_ssim_text() == "0.981"
    assert panel._cells["psnr_after"].text() == "38.5 dB"
    assert panel.verdict_label.text() == (
        "Changed little. This measures change from the input, not quality."
    )
    assert panel.caption.text() == "change from the input"
    assert not panel._cells["ssim_gain"].isVisible() and not panel._cells["ssim_before"].isVisible()
    tip = panel._cells["ssim_after"].toolTip()
    assert "structural similarity" in tip and "Higher is better" in tip
    assert "not whether it is better" in tip
    assert (
        "Higher" in panel._cells["psnr_title"].toolTip()
        and "dB" in panel._cells["psnr_title"].toolTip()
    )
    assert f"{CHANGED_LITTLE_SSIM:.2f}" in panel.verdict_label.toolTip()
    panel.show_readout(Readout(after_ssim=0.62, after_psnr=24.0))
    assert panel.verdict_label.text().startswith("Changed a lot.")
    assert colour_of(panel.verdict_label) is None  # change is neither good nor bad


def test_against_a_reference_it_shows_before_after_and_a_coloured_gain(panel):
    r = Readout(
        label="vs your photo",
        has_reference=True,
        before_ssim=0.4381,
        before_psnr=20.83,
        after_ssim=0.5694,
        after_psnr=26.94,
    )
    panel.show_readout(r)
    cells = panel._cells
    assert [cells[f"ssim_{k}"].text() for k in ("before", "arrow", "after", "gain")] == [
        "0.438",
        "→",
        "0.569",
        "+0.131",
    ]
    assert [cells[f"psnr_{k}"].text() for k in ("before", "after", "gain")] == [
        "20.8 dB",
        "26.9 dB",
        "+6.1 dB",
    ]
    good = verdict_colour(panel.palette(), "good")
    assert colour_of(cells["ssim_gain"]) == good and colour_of(cells["psnr_gain"]) == good
    assert panel.verdict_label.text() == (
        "Clearly better: closer to your photo than the input was."
    )
    assert colour_of(panel.verdict_label) == good
    assert panel.caption.text() == "vs your photo"
    # worse: red
    r.after_ssim, r.after_psnr = 0.40, 19.0
    panel.show_readout(r)
    bad = verdict_colour(panel.palette(), "bad")
    assert cells["psnr_gain"].text() == "-1.8 dB" and colour_of(cells["psnr_gain"]) == bad
    assert panel.verdict_label.text().startswith("Worse:")
    # a live estimate is marked as such
    r.partial, r.fraction = True, 0.4
    panel.show_readout(r)
    assert cells["ssim_after"].text().startswith("≈ ")
    assert "live, 40% done" in panel.caption.text()
    assert panel.verdict_label.text().startswith("So far: ")


def test_before_a_run_with_a_reference_it_says_what_to_do(panel):
    panel.show_readout(Readout(label="vs clean.png", has_reference=True, before_ssim=0.5))
    assert "Run a model" in panel.verdict_label.text()
    assert panel._cells["ssim_gain"].text() == ""


def test_overlay_controls(panel, qtbot):
    kinds, opacities = [], []
    panel.overlay_requested.connect(kinds.append)
    panel.opacity_changed.connect(opacities.append)
    assert not panel.opacity_slider.isEnabled()
    panel.overlay_combo.activated.emit(panel.overlay_combo.findData("ssim"))
    assert kinds == ["ssim"]
    panel.set_overlay("ssim")
    assert panel.opacity_slider.isEnabled()
    panel.opacity_slider.setValue(40)
    assert opacities[-1] == pytest.approx(0.4) and panel.opacity() == pytest.approx(0.4)


def test_pairs_are_named_for_simulate_and_for_a_reference(panel):
    panel.set_pairs(True, simulate=True, current="reference")
    texts = [panel.pair_combo.itemText(i) for i in range(panel.pair_combo.count())]
    assert texts == [
        "Degraded vs restored",
        "Your photo vs restored",
        "Your photo vs degraded",
    ]
    assert panel.pair_combo.currentData() == "reference" and panel.pair_row.isVisible()
    panel.set_pairs(True, simulate=False)
    assert panel.pair_combo.itemText(1) == "Reference vs after"
    panel.set_pairs(False)
    assert not panel.pair_row.isVisible()


def test_before_a_run_the_hint_names_what_results_are_compared_with():
    from deconv_gui.gui.quality_panel import verdict_text

    base = dict(has_reference=True, before_ssim=0.5, before_psnr=20.0)
    sim = verdict_text(Readout(label="vs your photo", **base))
    ref = verdict_text(Readout(label="vs street_clean.png", **base))
    assert sim == ("Run a model to see how much closer to your photo it gets.", "")
    assert ref == ("Run a model to see how much closer to the reference it gets.", "")
    assert verdict_text(Readout()) == ("", "")


def test_without_a_reference_an_identical_result_is_called_unchanged_not_changed_little():
    from deconv_gui.gui.quality_panel import verdict_text

    same = verdict_text(Readout(after_ssim=1.0, after_psnr=math.inf))
    assert same == ("Unchanged: the result is identical to the input.", "")
    near = verdict_text(Readout(after_ssim=0.999, after_psnr=52.0))
    assert near[0].startswith("Changed little.")
    live = verdict_text(Readout(after_ssim=1.0, after_psnr=math.inf, partial=True))
    assert live[0].startswith("So far: Unchanged")
