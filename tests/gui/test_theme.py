"""Both themes: every text colour meets WCAG AA contrast on its background (computed from the
palettes and the style colours the app uses), and the toolbar icons follow the theme."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor, QPalette

from deconv_gui.gui import theme
from deconv_gui.gui.theme import (
    ACCENT,
    MESSAGE_COLOURS,
    VERDICT_COLOURS,
    dark_palette,
    light_palette,
)

G, R = QPalette.ColorGroup, QPalette.ColorRole
AA_TEXT, AA_DISABLED = 4.5, 3.0


def luminance(c: QColor) -> float:
    """WCAG 2.x relative luminance of an sRGB colour."""

    def channel(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(c.red()) + 0.7152 * channel(c.green()) + 0.0722 * channel(c.blue())


def contrast(a: QColor, b: QColor) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def over(fg: QColor, alpha: float, bg: QColor) -> QColor:
    """`fg` at `alpha` composited over `bg`."""
    mix = [
        round(alpha * f + (1 - alpha) * b)
        for f, b in zip(fg.getRgb()[:3], bg.getRgb()[:3], strict=True)
    ]
    return QColor(*mix)


def test_the_contrast_formula_gives_wcag_reference_values():
    assert contrast(QColor("black"), QColor("white")) == pytest.approx(21.0)
    assert contrast(QColor("#777777"), QColor("white")) == pytest.approx(4.48, abs=0.01)
    assert contrast(QColor("#767676"), QColor("white")) == pytest.approx(4.54, abs=0.01)


# (text role, background role): every pair Qt's widgets draw text with
TEXT_PAIRS = (
    (R.WindowText, R.Window),
    (R.WindowText, R.Button),
    (R.ButtonText, R.Button),
    (R.ButtonText, R.Window),
    (R.Text, R.Base),
    (R.Text, R.AlternateBase),
    (R.Text, R.Window),
    (R.HighlightedText, R.Highlight),
    (R.ToolTipText, R.ToolTipBase),
    (R.PlaceholderText, R.Base),
    (R.PlaceholderText, R.Window),
    (R.PlaceholderText, R.AlternateBase),
    (R.PlaceholderText, R.Button),
    (R.Link, R.Base),
    (R.Link, R.Window),
    (R.LinkVisited, R.Base),
)


@pytest.fixture(params=["light", "dark"])
def palette(request, qapp) -> QPalette:
    return dark_palette() if request.param == "dark" else light_palette(qapp)


def test_every_text_colour_of_the_palette_meets_aa(palette):
    failures = []
    for group, needed in ((G.Active, AA_TEXT), (G.Inactive, AA_TEXT), (G.Disabled, AA_DISABLED)):
        for fg, bg in TEXT_PAIRS:
            if group is G.Disabled and fg in (R.HighlightedText, R.Link, R.LinkVisited):
                continue  # a disabled control shows no selection or link
            ratio = contrast(palette.color(group, fg), palette.color(group, bg))
            if ratio < needed:
                failures.append(f"{group.name} {fg.name} on {bg.name}: {ratio:.2f}")
    assert not failures, failures


def test_muted_text_is_readable_text_not_disabled_grey(palette):
    """Captions use the muted colour (PlaceholderText), held to 4.5:1, and it differs from
    the normal text so it still reads as secondary."""
    muted = palette.color(R.PlaceholderText)
    for bg in (R.Window, R.Base, R.Button):
        assert contrast(muted, palette.color(bg)) >= AA_TEXT
    assert muted != palette.color(R.WindowText)


def test_style_sheet_and_painter_colours_meet_aa(palette):
    name = theme.theme_name(palette)
    window = palette.color(R.Window)
    for kind, (bg, fg, _border) in MESSAGE_COLOURS[name].items():
        assert contrast(QColor(fg), QColor(bg)) >= AA_TEXT, kind
    for kind, colour in VERDICT_COLOURS[name].items():  # gains and verdicts on the panel
        assert contrast(colour, window) >= AA_TEXT, kind
        assert theme.verdict_colour(palette, kind) == colour
    # the main-action button: white on the accent, hover and pressed too; disabled text
    white = QColor("white")
    for bg in (ACCENT, ACCENT.lighter(112), ACCENT.darker(115)):
        assert contrast(white, bg) >= AA_TEXT
    style = theme.accent_button_style(palette)
    disabled = palette.color(G.Disabled, R.ButtonText)
    assert disabled.name() in style
    assert contrast(disabled, palette.color(R.Button)) >= AA_DISABLED


def test_viewer_labels_are_readable_over_any_photo():
    """The compare view's corner labels and legend: white text on a black pill at alpha
    150-170, over the brightest and the darkest photo."""
    for alpha in (150 / 255, 170 / 255):
        for photo in (QColor("white"), QColor("black"), QColor(255, 255, 0)):
            assert contrast(QColor("white"), over(QColor("black"), alpha, photo)) >= AA_TEXT


def test_the_themes_are_what_they_say():
    assert theme.is_dark_palette(dark_palette())
    assert not theme.is_dark_palette(light_palette())
    assert theme.theme_name(dark_palette()) == "dark"


def test_toolbar_icons_are_drawn_in_the_theme_text_colour(qapp):
    from deconv_gui.gui.actions import ACTIONS, TOOLBAR
    from deconv_gui.gui.icons import render_svg, svg_text, themed_icon
    from deconv_gui.paths import resource_path

    assert (resource_path("icons", "lucide", "LICENSE")).read_text().startswith("ISC License")
    named = {spec.name: spec.icon for spec in ACTIONS}
    for name in TOOLBAR:
        if name != "-":
            assert named[name], f"toolbar action {name} has no icon"
            assert svg_text(named[name]), f"{named[name]}.svg is not shipped"
    for pal in (light_palette(qapp), dark_palette()):
        text = pal.color(R.ButtonText)
        img = render_svg("save", text, 24).toImage()
        drawn = [
            img.pixelColor(x, y)
            for x in range(24)
            for y in range(24)
            if img.pixelColor(x, y).alpha() == 255
        ]
        assert len(drawn) > 30  # strokes were drawn, in the text colour
        assert all(c.rgb() == text.rgb() for c in drawn)
        assert not themed_icon("save", pal).isNull()
    assert themed_icon("no-such-icon", dark_palette()).isNull()


def test_notices_name_the_icon_licence():
    from pathlib import Path

    notices = Path(__file__).resolve().parents[2] / "packaging" / "THIRD_PARTY_NOTICES.md"
    text = notices.read_text()
    assert "Lucide" in text and "ISC" in text and "resources/icons/lucide/LICENSE" in text
