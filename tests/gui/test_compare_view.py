"""CompareView on its own: modes, divider, zoom around the cursor, fit and 1:1, flicker."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from deconv_gui.gui.compare_view import CompareView
from deconv_gui.gui.display import DisplayImage


def picture(w: int, h: int, value: float) -> DisplayImage:
    rgb = np.full((h, w, 3), value, np.float32)
    rgb[:, : w // 2, 0] = 1.0
    return DisplayImage.from_rgb(rgb)


@pytest.fixture
def view(qtbot):
    v = CompareView()
    v.resize(800, 600)
    qtbot.addWidget(v)
    v.show()
    v.set_pictures(picture(400, 300, 0.2), picture(400, 300, 0.8))
    return v


def test_fit_and_actual_pixels(view):
    assert view.is_fit()
    assert view.zoom() == pytest.approx(view.fit_zoom())
    view.set_zoom(1.0)
    assert view.zoom() == 1.0 and not view.is_fit()
    view.fit()
    assert view.is_fit()


def test_wheel_zooms_around_the_cursor(view, qtbot):
    view.set_zoom(4.0)  # the picture is larger than the view: room to zoom about a point
    anchor = QPointF(500, 350)
    before = view._widget_to_scene(anchor, view._panes()[0][0])
    view.set_zoom(8.0, anchor)
    after = view._widget_to_scene(anchor, view._panes()[0][0])
    assert (before.x(), before.y()) == pytest.approx((after.x(), after.y()), abs=1e-6)


def test_divider_drags(view, qtbot):
    x = int(view.width() * view.divider_position())
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(x, 300))
    qtbot.mouseMove(view, QPoint(200, 300))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(200, 300))
    assert view.divider_position() == pytest.approx(200 / view.width(), abs=0.01)


def test_a_small_picture_stays_centred_and_a_large_one_fills_the_view(view):
    view.set_zoom(0.5)
    assert (view.center().x(), view.center().y()) == pytest.approx((200, 150))
    view.set_zoom(4.0)
    view.pan_by(10000, 10000)  # far past the top-left corner
    r = view.visible_scene_rect()
    assert r.x() == pytest.approx(0) and r.y() == pytest.approx(0)
    assert r.width() == pytest.approx(800 / 4) and r.height() == pytest.approx(600 / 4)


def test_pan_by_dragging_moves_the_centre(view, qtbot):
    view.set_zoom(4.0)
    c0 = view.center()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    qtbot.mouseMove(view, QPoint(150, 120))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=QPoint(150, 120))
    c1 = view.center()
    assert c1.x() < c0.x() and c1.y() < c0.y()


def test_side_by_side_panes_share_zoom_and_pan(view):
    view.set_mode("side")
    panes = view._panes()
    assert len(panes) == 2
    view.set_zoom(2.0)
    # the same scene point sits at the same place in both panes
    a = view._widget_to_scene(panes[0][0].center(), panes[0][0])
    b = view._widget_to_scene(panes[1][0].center(), panes[1][0])
    assert (a.x(), a.y()) == pytest.approx((b.x(), b.y()))


def test_upscaled_result_keeps_the_view(view):
    view.set_zoom(2.0)
    c = view.center()
    view.set_after(picture(800, 600, 0.5))  # x2 result
    assert view.scene_size() == (800, 600)
    assert view.zoom() == pytest.approx(1.0)
    assert view.center().x() == pytest.approx(c.x() * 2)


def test_painting_every_mode_does_not_fail(view):
    for mode in ("split", "side", "flicker"):
        view.set_mode(mode)
        for before in (False, True):
            view.set_show_before(before)
            for zoom in (0.1, 1.0, 7.0):
                view.set_zoom(zoom)
                img = view.grab().toImage()
                assert not img.isNull()


def test_partial_result_paste_shows_finished_tiles(qtbot):
    before = picture(64, 64, 0.2)
    after = DisplayImage.blank(64, 64)
    tile = np.full((32, 32, 4), 255, np.uint8)
    after.paste((0, 32, 0, 32), tile)
    assert after.levels[0][:32, :32].min() == 255
    assert after.levels[0][32:, 32:].max() == 0
    v = CompareView()
    qtbot.addWidget(v)
    v.set_pictures(before, after, partial=True)
    v.tile_finished((0, 32, 0, 32))


def test_embedded_profiles_are_shown_in_srgb():
    from gui_helpers import swapped_primaries_icc
    from PIL import ImageCms

    from deconv_gui.gui.display import display_colour, to_bgra8

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert display_colour(srgb) is None
    assert display_colour(b"not a profile") is None
    assert display_colour(None) is None
    colour = display_colour(swapped_primaries_icc())
    assert colour is not None
    red = np.zeros((2, 2, 3), np.float32)
    red[..., 0] = 1.0
    b, g, r, a = to_bgra8(red, colour)[0, 0]
    assert g > 200 and r < 60 and a == 255  # shown as green on an sRGB screen


# ----------------------------------------------------------------------------- issue 14
def checker(w: int, h: int) -> DisplayImage:
    """Black and white pixels in a 1-pixel checkerboard: any smoothing makes greys."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.repeat(((x + y) % 2).astype(np.float32)[..., None], 3, axis=2)
    return DisplayImage.from_rgb(rgb)


def grab_rgb(view: CompareView) -> np.ndarray:
    """What the view shows, as (H, W, 3) uint8."""
    img = view.grab().toImage().convertToFormat(view.grab().toImage().Format.Format_RGB888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy()


def grab_centre(view: CompareView, size: int = 60) -> np.ndarray:
    arr = grab_rgb(view)
    cy, cx = arr.shape[0] // 2, arr.shape[1] // 2
    return arr[cy - size // 2 : cy + size // 2, cx - size // 2 : cx + size // 2]


@pytest.mark.parametrize(("zoom", "smooth"), [(0.6, True), (1.5, True), (2.0, False), (3.0, False)])
def test_pictures_are_smooth_below_200_percent_and_crisp_from_there(qtbot, zoom, smooth):
    v = CompareView()
    v.resize(400, 300)
    qtbot.addWidget(v)
    v.show()
    pic = checker(160, 120)
    v.set_pictures(pic, pic)
    v.set_mode("flicker")  # one picture over the whole view, no divider
    v.set_zoom(zoom)
    centre = grab_centre(v)
    greys = np.mean((centre > 40) & (centre < 215))
    assert CompareView.smooth_at(zoom) == smooth
    if smooth:
        assert greys > 0.5  # filtered: the pixels blend
    else:
        assert greys == 0.0  # crisp pixel blocks, only black and white


def test_the_overlay_is_drawn_over_the_result_at_its_opacity(qtbot):
    from deconv_gui.gui.display import Overlay

    v = CompareView()
    v.resize(300, 200)
    qtbot.addWidget(v)
    v.show()
    grey = DisplayImage.from_rgb(np.full((100, 150, 3), 0.5, np.float32))
    red = np.zeros((100, 150, 3), np.float32)
    red[..., 0] = 1.0
    v.set_pictures(grey, grey)
    v.set_mode("flicker")
    overlay = Overlay("diff", DisplayImage.from_rgb(red), "Difference", "none", "1 %", 0.01)
    v.set_overlay(overlay)
    for opacity in (1.0, 0.5, 0.2):
        v.set_overlay_opacity(opacity)
        r, g, b = grab_centre(v, 10).reshape(-1, 3).mean(axis=0)
        assert r == pytest.approx(128 + (255 - 128) * opacity, abs=3)
        assert g == pytest.approx(128 * (1 - opacity), abs=3) and b == pytest.approx(g, abs=1)
    assert v.labels()[1] == "Difference over After" and v.overlay_kind() == "diff"
    v.set_overlay(None)
    assert v.labels()[1] == "After" and v.overlay_kind() == ""


def test_swap_sides_puts_the_result_on_the_left(qtbot):
    v = CompareView()
    v.resize(400, 200)
    qtbot.addWidget(v)
    v.show()
    dark = DisplayImage.from_rgb(np.full((100, 200, 3), 0.1, np.float32))
    light = DisplayImage.from_rgb(np.full((100, 200, 3), 0.9, np.float32))
    v.set_pictures(dark, light)  # before dark, after light

    def sides() -> tuple[float, float]:
        img = v.grab().toImage()
        return (img.pixelColor(100, 100).lightness(), img.pixelColor(300, 100).lightness())

    for mode in ("split", "side"):
        v.set_mode(mode)
        v.set_swapped(False)
        left, right = sides()
        assert left < 60 and right > 200
        v.set_swapped(True)
        left, right = sides()
        assert left > 200 and right < 60
    assert v.is_swapped()


def test_auto_flicker_flicks_by_itself_about_twice_a_second(qtbot, view):
    import time

    from deconv_gui.gui.compare_view import FLICKER_INTERVAL_MS

    times: list[float] = []
    view.before_shown_changed.connect(lambda _on: times.append(time.monotonic()))
    view.set_auto_flicker(True)
    assert view.mode() == "flicker" and view.is_auto_flicker()
    qtbot.waitUntil(lambda: len(times) >= 4, timeout=5000)
    gaps = np.diff(times)
    assert gaps.min() > FLICKER_INTERVAL_MS / 1000 * 0.6
    assert gaps.mean() == pytest.approx(FLICKER_INTERVAL_MS / 1000, rel=0.5)
    view.set_mode("split")  # leaving flicker stops it, with the result shown
    assert not view.is_auto_flicker() and not view.is_showing_before()
    n = len(times)
    qtbot.wait(3 * FLICKER_INTERVAL_MS)
    assert len(times) == n


def test_navigator_appears_when_zoomed_in_and_a_click_moves_the_view(qtbot, view):
    assert view.navigator_rect() is None  # fit: everything is in view
    view.set_zoom(4.0)
    nav = view.navigator_rect()
    assert nav is not None and nav.bottom() <= view.height()
    assert nav.width() / nav.height() == pytest.approx(400 / 300)
    target = QPointF(nav.left() + 0.3 * nav.width(), nav.top() + 0.4 * nav.height())
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=target.toPoint())
    c = view.center()
    assert (c.x(), c.y()) == pytest.approx((0.3 * 400, 0.4 * 300), abs=400 / nav.width())
    # dragging in the navigator follows the mouse
    start = target.toPoint()
    end = QPoint(int(nav.left() + 0.6 * nav.width()), int(nav.top() + 0.5 * nav.height()))
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, end)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=end)
    c = view.center()
    assert (c.x(), c.y()) == pytest.approx((0.6 * 400, 0.5 * 300), abs=400 / nav.width())
    view.fit()
    assert view.navigator_rect() is None


def test_the_navigator_shows_the_before_while_the_after_is_partial(qtbot, view):
    """A preview's after is empty but for its region: the navigator had shown a dark box."""
    view.set_zoom(4.0)
    nav = view.navigator_rect()
    spot = (int(nav.top() + 0.5 * nav.height()), int(nav.left() + 0.9 * nav.width()))
    blank = DisplayImage.blank(300, 400)  # nothing arrived yet
    view.set_after(blank, partial=True)
    shown = grab_rgb(view)[spot]
    assert abs(int(shown[1]) - round(0.2 * 255)) < 12  # the before's grey right half
    view.set_after(picture(400, 300, 0.8), partial=False)
    assert abs(int(grab_rgb(view)[spot][1]) - round(0.8 * 255)) < 12


# ----------------------------------------------------------------------------- transparency
def _red(w: int, h: int) -> np.ndarray:
    rgb = np.zeros((h, w, 3), np.float32)
    rgb[..., 0] = 1.0
    return rgb


def _shown_at_100(qtbot, before: DisplayImage, after: DisplayImage, **kwargs) -> CompareView:
    """A 400 x 300 view showing one picture over the whole view (flicker) at 100 %."""
    v = CompareView()
    v.resize(400, 300)
    qtbot.addWidget(v)
    v.show()
    v.set_pictures(before, after, **kwargs)
    v.set_mode("flicker")
    v.set_zoom(1.0)
    return v


def test_a_transparent_photo_is_shown_over_a_checkerboard(qtbot):
    """The left half of the photo is transparent: there the view shows the checkerboard's two
    greys in squares, the right half stays the photo's red; a half-transparent strip blends."""
    from deconv_gui.gui.compare_view import CHECKER_GREYS, CHECKER_SQUARE

    pic = DisplayImage.from_rgb(_red(400, 300))
    alpha = np.ones((300, 400), np.float32)
    alpha[:, :200] = 0.0
    alpha[:, 300:320] = 0.5
    mask = DisplayImage.transparency(alpha)
    assert mask is not None and DisplayImage.transparency(np.ones((3, 3), np.float32)) is None
    v = _shown_at_100(qtbot, pic, pic)
    v.set_transparency(mask)
    shot = grab_rgb(v)
    left, right = shot[40:260, 20:180], shot[40:260, 220:290]
    assert set(np.unique(left)) == set(CHECKER_GREYS)  # greys only, no red
    assert np.all(left[..., 0] == left[..., 1])
    row = left[0, :, 0]
    runs = np.diff(np.flatnonzero(np.diff(row.astype(int)) != 0))
    assert runs.size and np.all(runs == CHECKER_SQUARE)  # squares of 8 px
    assert np.all(right == (255, 0, 0))
    half = shot[150, 305:315].astype(int)
    assert np.all(half[:, 0] > 160) and np.all((half[:, 1] > 40) & (half[:, 1] < 90))
    # the before opaque (e.g. a reference photo), the after through the alpha
    v.set_transparency(mask, before=False, after=True)
    v.set_show_before(True)
    assert np.all(grab_rgb(v)[40:260, 20:180] == (255, 0, 0))
    v.set_show_before(False)
    assert set(np.unique(grab_rgb(v)[40:260, 20:180])) == set(CHECKER_GREYS)
    # split: each side is painted through the alpha where it shows (the before on the left)
    v.set_transparency(mask)
    v.set_mode("split")
    v.set_divider_position(0.75)
    shot = grab_rgb(v)
    assert set(np.unique(shot[40:260, 20:180])) == set(CHECKER_GREYS)
    assert np.all(shot[40:260, 220:280] == (255, 0, 0))  # the before's opaque part
    assert np.all(shot[40:260, 330:390] == (255, 0, 0))  # the after's
    v.set_transparency(None)
    assert np.all(grab_rgb(v)[40:260, 20:180] == (255, 0, 0))


def test_a_transparent_photo_upscaled_and_partial_keeps_its_mask(qtbot):
    """The mask, at the photo's size, covers an x2 result; tiles still to come show the faded
    before, not a checkerboard over it."""
    before = DisplayImage.from_rgb(_red(200, 150))
    alpha = np.ones((150, 200), np.float32)
    alpha[:, :100] = 0.0
    after = DisplayImage.blank(300, 400)
    green = np.zeros((150, 400, 3), np.float32)
    green[..., 1] = 1.0
    from deconv_gui.gui.display import to_bgra8

    after.paste((0, 150, 0, 400), to_bgra8(green))  # the top half is done
    v = _shown_at_100(qtbot, before, after, partial=True)
    v.set_transparency(DisplayImage.transparency(alpha))
    shot = grab_rgb(v)
    assert np.all(shot[40:130, 220:380] == (0, 255, 0))  # done, opaque part
    top_left = shot[40:130, 20:180]  # (below the label)
    assert np.all(top_left[..., 0] == top_left[..., 1]) and top_left.min() >= 60
    bottom_left, bottom_right = shot[170:280, 20:180], shot[170:280, 220:380]
    # the faded before: red at 35 % over the view's grey surround...
    assert np.all(bottom_right[..., 0] > bottom_right[..., 1] + 60)
    assert np.all(bottom_right[..., 0] < 200)
    # ...and its checkerboard at 35 %, not a full one over it
    assert np.all(bottom_left[..., 0] == bottom_left[..., 1]) and bottom_left.max() < 120
