"""Hostile input, I/O side (issue 18): special files, odd TIFF sample types, pictures over
Pillow's own limit, killed writes, absurd strengths for the classical models, 16-bit levels
through non-local means, strict JSON, and the user model library's broken entries.

Each case checks what the user gets: the exit code or exception type, one plain line (no
"unexpected", no decoder's jargon), the inputs byte-identical and no partial or temporary
files left. CLI cases run the real command in a subprocess.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from deconv_gui import paths
from deconv_gui.core import io as dio
from deconv_gui.core.image import ImageMeta
from deconv_gui.core.io import load_image, load_preview, remove_stale_temporaries, save_image
from deconv_gui.core.manifest import MANIFEST_DIR
from deconv_gui.core.validate import OptionError
from deconv_gui.errors import ImageReadError, ImageWriteError
from deconv_gui.models.classical import (
    NLMProcessor,
    RichardsonLucyProcessor,
    WienerProcessor,
    classical_specs,
)
from deconv_gui.models.registry import LoadOptions, ModelRegistry

LOADERS: list[Callable[[Path], object]] = [load_image, load_preview]
# library text that must never reach the user (mapped to plain words)
JARGON = re.compile(
    r"unexpected|Traceback|Truncated File Read|image file is truncated|"
    r"cannot identify image|DecompressionBomb|broken data stream|tifffile|TiffFileError|"
    r"Corrupt JPEG|Huffman|extraneous|quantization|segment",
    re.IGNORECASE,
)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hidden_or_temp(folder: Path) -> list[str]:
    """Hidden or temporary files left behind (a run's manifest folder is meant to stay)."""
    return sorted(
        p.name
        for p in folder.rglob("*")
        if MANIFEST_DIR not in p.parts and (p.name.startswith(".") or ".tmp" in p.name)
    )


def _listing(folder: Path) -> list[str]:
    """The names in an output folder, without the run's manifest folder."""
    return sorted(p.name for p in folder.iterdir() if p.name != MANIFEST_DIR)


def _photo(path: Path, size: tuple[int, int] = (40, 32), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    arr = rng.integers(30, 220, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return path


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deconv_gui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_error_line(stderr: str) -> str:
    """The single ``error:`` line of a failed command, checked for plain words."""
    errors = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, stderr
    assert not JARGON.search(stderr), stderr
    return errors[0]


def plain(message: str) -> str:
    assert "\n" not in message and not JARGON.search(message), message
    return message


def strict_json(text: str) -> object:
    def refuse(name: str) -> object:
        raise AssertionError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


# ---------------------------------------------------------------------------- special files


def _in_thread(fn: Callable[[], object], seconds: float = 10.0) -> BaseException | None:
    """Run ``fn`` in a daemon thread; the exception it raised, or a failure if it hangs."""
    box: list[BaseException | None] = [None]

    def target() -> None:
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box[0] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "blocked on a special file"
    return box[0]


@pytest.fixture
def fifo(tmp_path: Path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    yield path
    # a loader that did block would be released by a writer opening the other end
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.parametrize("loader", LOADERS, ids=lambda f: f.__name__)
def test_a_fifo_is_refused_at_once(fifo: Path, loader: Callable[[Path], object]) -> None:
    err = _in_thread(lambda: loader(fifo))
    assert isinstance(err, ImageReadError)
    assert plain(str(err)) == "Cannot read pipe.png: it is a named pipe (FIFO), not an image file"


def test_a_fifo_swapped_in_after_the_check_does_not_block(
    fifo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the path is checked before opening; a FIFO that appears in between must not block the
    # open itself (O_NONBLOCK), and is refused on the open descriptor
    monkeypatch.setattr(dio, "_check_is_file", lambda p: None)
    err = _in_thread(lambda: load_image(fifo))
    assert isinstance(err, ImageReadError) and "pipe (FIFO)" in str(err)


def test_links_to_special_files_and_devices_are_refused(fifo: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.jpg"
    link.symlink_to(fifo)
    err = _in_thread(lambda: load_image(link))
    assert isinstance(err, ImageReadError) and "pipe (FIFO)" in str(err)
    for device in ("/dev/null", "/dev/zero"):
        if not Path(device).exists():
            continue
        err = _in_thread(lambda d=device: load_image(Path(d)))
        assert isinstance(err, ImageReadError)
        assert plain(str(err)).endswith("it is a device, not an image file")


@pytest.mark.parametrize("name", ["pipe.nef", "pipe.dng"])
def test_a_fifo_with_a_raw_name_is_refused_too(tmp_path: Path, name: str) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    path = tmp_path / name
    os.mkfifo(path)
    try:
        for loader in LOADERS:
            err = _in_thread(lambda f=loader: f(path))
            assert isinstance(err, ImageReadError) and "named pipe (FIFO)" in str(err)
    finally:  # release a reader that did block
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def test_a_socket_is_refused() -> None:
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("no Unix sockets on this system")
    with tempfile.TemporaryDirectory() as d:  # short path: socket names are limited
        path = Path(d) / "s.png"
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.bind(str(path))
            for loader in LOADERS:
                err = _in_thread(lambda f=loader: f(path))
                assert isinstance(err, ImageReadError) and "it is a socket" in str(err)
        finally:
            sock.close()


def test_a_loop_of_links_is_one_plain_line(tmp_path: Path) -> None:
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(ImageReadError, match="a loop of links"):
        load_image(a)


def test_cli_goes_on_past_a_fifo_among_the_inputs(fifo: Path, tmp_path: Path) -> None:
    good = _photo(tmp_path / "good.png")
    before = _digest(good)
    out = tmp_path / "out"
    proc = run_cli(
        "restore", str(fifo), str(good), "--model", "bicubic-x2", "-o", str(out) + os.sep
    )
    assert proc.returncode == 0, proc.stderr
    assert f"warning: skipped {fifo}: a named pipe (FIFO), not a file" in proc.stderr
    assert "error:" not in proc.stderr and not JARGON.search(proc.stderr)
    assert _listing(out) == ["good_x2.png"]
    assert _digest(good) == before and not _hidden_or_temp(tmp_path)


# ---------------------------------------------------------------------------- TIFF sample types


def _ramp(h: int = 16, w: int = 64) -> np.ndarray:
    return np.tile(np.linspace(0.0, 1.0, w), (h, 1))


# name -> (stored samples, the value each should read as: the rule in io._tiff_samples_to_unit)
def _type_range(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (v.astype(np.float64) - lo) / (hi - lo)


def _data_range(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.float64)
    return (v - v.min()) / (v.max() - v.min())


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    r = _ramp()
    i16 = np.round(r * 60000 - 30000).astype(np.int16)
    i8 = np.round(r * 250 - 125).astype(np.int8)
    i32 = np.round(r * 2e9 - 1e9).astype(np.int32)
    i32_small = np.round(r * 4000).astype(np.int32)  # a 12-bit sensor in an int32 container
    u32 = np.round(r * 4e9).astype(np.uint32)
    f32 = r.astype(np.float32)
    f64_wide = (r * 5000 - 200).astype(np.float64)
    f16 = r.astype(np.float16)
    return {
        "int16": (i16, _type_range(i16, -32768, 32767), 16),
        "int8": (i8, _type_range(i8, -128, 127), 8),
        "int32": (i32, _data_range(i32), 16),
        "int32-small-values": (i32_small, _data_range(i32_small), 16),
        "uint32": (u32, _data_range(u32), 16),
        "float32-in-0-1": (f32, f32.astype(np.float64), 16),
        "float64-wide": (f64_wide, _data_range(f64_wide), 16),
        "float16": (f16, f16.astype(np.float64), 16),
    }


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_tiff_samples_of_every_type_read_with_their_real_range(tmp_path: Path, name: str) -> None:
    stored, expected, bits = CASES[name]
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, stored, photometric="minisblack")
    photo = load_image(path)
    assert photo.meta.mode == "L" and photo.meta.bit_depth == bits
    grey = photo.rgb[:, :, 0].astype(np.float64)
    assert np.abs(grey - expected).max() < 1e-3  # float32 rounding only
    assert grey[:, 0].max() < 0.1 and grey[:, -1].min() > 0.9  # not all white, not all black
    assert np.all(np.diff(grey[0]) >= -1e-6)  # the ramp stays a ramp
    prev = load_preview(path, max_side=16)
    assert prev.shape == (4, 16, 3) and prev[:, 0].mean() < prev[:, -1].mean()


def test_colour_and_alpha_tiffs_of_signed_and_float_samples(tmp_path: Path) -> None:
    r = _ramp(8, 32)
    rgb = np.stack([r, 1 - r, np.full_like(r, 0.25)], axis=-1)
    path = tmp_path / "rgbf.tif"
    tifffile.imwrite(path, rgb.astype(np.float32), photometric="rgb")
    photo = load_image(path)
    assert photo.meta.mode == "RGB" and np.abs(photo.rgb - rgb).max() < 1e-6
    rgba = np.concatenate([rgb, r[:, :, None]], axis=-1)
    signed = np.round(rgba * 65535 - 32768).astype(np.int16)
    path = tmp_path / "rgba16s.tif"
    tifffile.imwrite(path, signed, photometric="rgb", extrasamples=("unassalpha",))
    photo = load_image(path)
    assert photo.meta.mode == "RGBA" and photo.meta.alpha is not None
    assert np.abs(photo.rgb - rgb).max() < 1e-4 and np.abs(photo.meta.alpha - r).max() < 1e-4


def test_pillow_made_int32_float_and_1bit_tiffs(tmp_path: Path) -> None:
    r = _ramp()
    Image.fromarray(np.round(r * 70000 + 5).astype(np.int32), mode="I").save(tmp_path / "i.tif")
    Image.fromarray(r.astype(np.float32) * 3.0, mode="F").save(tmp_path / "f.tif")
    Image.fromarray(r > 0.5).save(tmp_path / "b.tif")
    for name in ("i.tif", "f.tif"):  # both beyond their nominal range: stretched
        grey = load_image(tmp_path / name).rgb[:, :, 0]
        assert abs(float(grey.min())) < 1e-6 and abs(float(grey.max()) - 1.0) < 1e-6
        assert 0.4 < float(grey.mean()) < 0.6
    bw = load_image(tmp_path / "b.tif")
    assert bw.meta.bit_depth == 8 and set(np.unique(bw.rgb).tolist()) == {0.0, 1.0}
    assert np.array_equal(bw.rgb[:, :, 0] > 0.5, r > 0.5)


def test_wide_samples_are_saved_with_their_levels(tmp_path: Path) -> None:
    stored = np.round(_ramp(4, 4096) * 1e6).astype(np.int32)
    tifffile.imwrite(tmp_path / "deep.tif", stored)
    photo = load_image(tmp_path / "deep.tif")
    out = save_image(tmp_path / "deep.png", photo.rgb, photo.meta)
    back = load_image(out)
    assert back.meta.bit_depth == 16
    assert len(np.unique(back.rgb[0, :, 0])) > 256


def test_nan_and_inf_in_float_tiffs_do_not_spoil_the_picture(tmp_path: Path) -> None:
    data = (_ramp() * 10).astype(np.float32)
    data[0, 0], data[0, 1], data[0, 2] = np.nan, np.inf, -np.inf
    tifffile.imwrite(tmp_path / "nan.tif", data)
    grey = load_image(tmp_path / "nan.tif").rgb[:, :, 0]
    assert np.isfinite(grey).all() and grey.min() >= 0 and grey.max() <= 1
    assert grey[0, :3].tolist() == [0.0, 1.0, 0.0]
    assert abs(float(grey[1, -1]) - 1.0) < 1e-6  # the finite data still spans 0..1


def test_unsupported_and_damaged_special_tiffs_are_one_plain_line(tmp_path: Path) -> None:
    cmyk = tmp_path / "cmyk.tif"
    tifffile.imwrite(cmyk, np.zeros((4, 4, 4), np.float32), photometric="separated")
    truncated = tmp_path / "cut.tif"
    tifffile.imwrite(truncated, (_ramp(64, 64) * 1e9).astype(np.int32), compression="zlib")
    truncated.write_bytes(truncated.read_bytes()[:300])
    for path, words in ((cmyk, "not supported"), (truncated, "damaged or incomplete")):
        before = _digest(path)
        for loader in LOADERS:
            with pytest.raises(ImageReadError) as e:
                loader(path)
            assert words in plain(str(e.value))
        assert _digest(path) == before


def test_cli_damaged_files_are_one_plain_line_each_and_the_rest_is_done(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    good = _photo(folder / "good.png")
    for name in ("cut.jpg", "cut.png", "cut.tif"):
        _photo(tmp_path / name, size=(300, 200))
        data = (tmp_path / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])
    digests = {p.name: _digest(p) for p in folder.iterdir()}
    out = tmp_path / "out"
    proc = run_cli("restore", str(folder), "--model", "bicubic-x2", "-o", str(out))
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 3 and not JARGON.search(proc.stderr), proc.stderr
    assert all(ln.endswith("(perhaps it was not fully copied or downloaded)") for ln in errors), (
        errors
    )
    assert _listing(out) == ["good_x2.png"]
    assert {p.name: _digest(p) for p in folder.iterdir()} == digests and good.is_file()
    assert not _hidden_or_temp(tmp_path)


# ---------------------------------------------------------------------------- Pillow's own limit


@pytest.mark.parametrize("fmt", ["TIFF", "PNG", "JPEG", "WEBP"])
def test_pictures_over_pillows_limit_load_up_to_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    # Pillow refuses over 2 x MAX_IMAGE_PIXELS, at open and (TIFF) again while decoding: with
    # its limit lowered to 1000, a 2500-pixel picture stands for a 200 MP one (limit 179 MP).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    path = tmp_path / f"p.{fmt.lower()}"
    Image.fromarray(np.full((50, 50, 3), 90, np.uint8)).save(path, format=fmt)
    assert load_image(path).rgb.shape == (50, 50, 3)
    assert load_preview(path, max_side=10).shape == (10, 10, 3)
    with pytest.raises(ImageReadError, match="larger than the limit"):
        load_image(path, max_pixels=2_000)
    assert Image.MAX_IMAGE_PIXELS == 1_000  # restored


@pytest.mark.slow
def test_a_real_200_megapixel_tiff_is_not_called_damaged(tmp_path: Path) -> None:
    # 1-bit and Group 4 compressed: 12 KB on disk, 25 MB decoded; the preview stays small
    path = tmp_path / "big.tif"
    im = Image.new("1", (16_000, 12_500), 0)
    im.paste(1, (0, 0, 8_000, 12_500))
    im.save(path, compression="group4")
    del im
    prev = load_preview(path, max_side=64)
    assert prev.shape == (50, 64, 3)
    assert prev[:, :20].min() == 1.0 and prev[:, -20:].max() == 0.0


# ---------------------------------------------------------------------------- temporary files


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path: Path) -> None:
    host, me, dead = dio._HOST_TAG, os.getpid(), _dead_pid()
    old = time.time() - 2 * dio.STALE_TEMP_SECONDS
    names = {
        f".a.png.{host}-{dead}-0123abcd.tmp": True,  # its writer is gone
        f".b.png.{host}-{me}-0123abcd.tmp": False,  # this process is still writing it
        f".c.png.ffffff-{dead}-0123abcd.tmp": False,  # another machine's writer, fresh
        f".d.png.ffffff-{dead}-0123abcd.tmp": True,  # another machine's, untouched for long
        ".e.png.0123abcd.tmp": False,  # the old naming, fresh
        ".f.png.0123abcd.tmp": True,  # the old naming, old
        ".notes.tmp": False,  # not ours
        "g.png.0123abcd.tmp": False,  # not hidden: not ours
        ".h.png": False,
    }
    for name, _ in names.items():
        (tmp_path / name).write_bytes(b"partial")
    for name in (f".d.png.ffffff-{dead}-0123abcd.tmp", ".f.png.0123abcd.tmp", ".notes.tmp"):
        os.utime(tmp_path / name, (old, old))
    folder = tmp_path / f".x.png.{host}-{dead}-0123abcd.tmp"  # a folder with our pattern
    folder.mkdir()
    link = tmp_path / f".y.png.{host}-{dead}-0123abcd.tmp"
    link.symlink_to(tmp_path / ".h.png")

    removed = {p.name for p in remove_stale_temporaries(tmp_path)}
    assert removed == {n for n, stale in names.items() if stale}
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {n for n, stale in names.items() if not stale} | {folder.name, link.name}


def test_the_next_write_into_a_folder_cleans_it(tmp_path: Path) -> None:
    stale = tmp_path / f".old.png.{dio._HOST_TAG}-{_dead_pid()}-0123abcd.tmp"
    stale.write_bytes(b"half a photo")
    save_image(tmp_path / "new.png", np.zeros((4, 4, 3), np.float32), ImageMeta())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.png"]


def test_kill_9_during_a_write_then_a_normal_run(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    child = textwrap.dedent(
        """
        import sys, time
        import numpy as np
        from deconv_gui.core import io as dio
        from deconv_gui.core.image import ImageMeta

        def stuck(fp, *args, **kwargs):
            fp.write(b"half a photo")
            fp.flush()
            print("writing", flush=True)
            time.sleep(600)

        dio._write_pillow = stuck
        dio.save_image(sys.argv[1], np.zeros((8, 8, 3), np.float32), ImageMeta())
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", child, str(out_dir / "src_x2.png")],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
            assert len(_hidden_or_temp(out_dir)) == 1  # the temporary file of the write
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
    assert _hidden_or_temp(out_dir) and not (out_dir / "src_x2.png").exists()

    src = _photo(tmp_path / "src.png")
    before = _digest(src)
    run = run_cli("restore", str(src), "--model", "bicubic-x2", "-o", str(out_dir) + os.sep)
    assert run.returncode == 0, run.stderr
    assert _listing(out_dir) == ["src_x2.png"]
    assert _digest(src) == before


# ---------------------------------------------------------------------------- classical models


KERNEL = np.full((3, 3), 1 / 9, np.float32)
REG = ModelRegistry(classical_specs())


@pytest.mark.parametrize("strength", [math.nan, math.inf, -math.inf, -1.0, 1e9])
@pytest.mark.parametrize("model_id", ["nlm-denoise", "wiener-deblur", "rl-deblur"])
def test_classical_models_refuse_absurd_strengths(model_id: str, strength: float) -> None:
    spec = REG.get(model_id)
    with pytest.raises(OptionError) as e:  # a DeconvError: one line for the user
        spec.build(LoadOptions(device="cpu", strength=strength))
    assert plain(str(e.value)).startswith(f"the {spec.strength.label.lower()} of {model_id} must")


def test_the_processors_themselves_refuse_non_finite_strengths() -> None:
    for make in (
        lambda: NLMProcessor(math.nan),
        lambda: WienerProcessor(KERNEL, math.nan),
        lambda: WienerProcessor(KERNEL, math.inf),
        lambda: RichardsonLucyProcessor(KERNEL, math.inf),
        lambda: RichardsonLucyProcessor(KERNEL, 101),
        lambda: RichardsonLucyProcessor(KERNEL, 0),
    ):
        with pytest.raises(OptionError):
            make()
    assert RichardsonLucyProcessor(KERNEL, 100).iterations == 100  # the card's maximum
    assert WienerProcessor(KERNEL, None).sigma is None  # automatic stays automatic


def test_cli_wiener_nan_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    src = _photo(tmp_path / "in.png")
    before = _digest(src)
    out = tmp_path / "out.png"
    for strength in ("nan", "inf", "1e300"):
        proc = run_cli("restore", str(src), "--model", "wiener-deblur", "--strength", strength)
        assert proc.returncode != 0
        one_error_line(proc.stderr)
        proc = run_cli(
            "restore", str(src), "--model", "rl-deblur", "--strength", strength, "-o", str(out)
        )
        assert proc.returncode != 0
        one_error_line(proc.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]
    assert _digest(src) == before


def test_nlm_keeps_16_bit_levels_and_8_bit_photos_are_unchanged() -> None:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:512].astype(np.float32)
    clean = np.stack([x / 511 * 0.3 + 0.2, x / 511 * 0.2 + 0.4, y / 63 * 0.1 + 0.3], -1)
    noisy16 = np.round(np.clip(clean + rng.normal(0, 3 / 255, clean.shape), 0, 1) * 65535)
    noisy16 = (noisy16 / 65535).astype(np.float32)
    proc = NLMProcessor(3.0)
    proc.prepare(noisy16)
    out16 = proc(noisy16)
    levels = [len(np.unique(np.round(out16[..., c] * 65535))) for c in range(3)]
    assert min(levels) > 256, levels
    # rounding to 8 bits first (the old way) keeps at most 256 levels and strays further
    noisy8 = np.round(noisy16 * 255).astype(np.float32) / 255
    proc8 = NLMProcessor(3.0)
    proc8.prepare(noisy8)
    out8 = proc8(noisy8)
    assert len(np.unique(np.round(out8[..., 0] * 255))) <= 256
    assert np.abs(out16 - clean).mean() < np.abs(out8 - clean).mean()
    # an 8-bit photo still gets exactly OpenCV's colour NLM
    import cv2

    u8 = np.round(noisy8 * 255).astype(np.uint8)
    direct = cv2.fastNlMeansDenoisingColored(u8, None, 0.55 * 3.0, 0.7 * 3.0, 7, 21)
    assert np.array_equal(np.round(out8 * 255).astype(np.uint8), direct)


def test_cli_nlm_on_a_16_bit_photo_writes_16_bit_levels(tmp_path: Path) -> None:
    import cv2

    rng = np.random.default_rng(1)
    ramp = np.tile(np.linspace(0.2, 0.6, 700), (24, 1))
    grey = np.clip(ramp + rng.normal(0, 2 / 255, ramp.shape), 0, 1)
    src = tmp_path / "ramp16.png"
    cv2.imwrite(
        str(src), np.round(np.repeat(grey[:, :, None], 3, axis=2) * 65535).astype(np.uint16)
    )
    before = _digest(src)
    out = tmp_path / "out.png"
    proc = run_cli("restore", str(src), "--model", "nlm-denoise", "--strength", "2", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert back.dtype == np.uint16 and len(np.unique(back[..., 1])) > 256
    assert _digest(src) == before


# ---------------------------------------------------------------------------- CLI smaller items


def test_metrics_json_is_strict_json_for_identical_photos(tmp_path: Path) -> None:
    a = _photo(tmp_path / "a.png", seed=1)
    b = _photo(tmp_path / "b.png", seed=2)
    same = run_cli("metrics", str(a), str(a), "--json")
    assert same.returncode == 0, same.stderr
    result = strict_json(same.stdout)
    assert result == {"ssim": pytest.approx(1.0), "psnr": None, "identical": True}
    diff = run_cli("metrics", str(a), str(b), "--json")
    result = strict_json(diff.stdout)
    assert isinstance(result, dict) and result["identical"] is False
    assert isinstance(result["psnr"], float) and math.isfinite(result["psnr"])
    text = run_cli("metrics", str(a), str(a))
    assert "PSNR infinite (the pixels are identical)" in text.stdout


def _broken_entry(name: str) -> Path:
    folder = paths.user_models_dir() / name
    folder.mkdir()
    (folder / "card.json").write_text("{not json", encoding="utf-8")
    return folder


def test_a_broken_library_entry_is_listed_not_shouted(tmp_path: Path) -> None:
    _broken_entry("half-imported")
    a = _photo(tmp_path / "a.png")
    listing = run_cli("models")
    assert listing.returncode == 0 and listing.stderr == ""
    (line,) = [ln for ln in listing.stdout.splitlines() if ln.startswith("half-imported")]
    assert "BROKEN" in line and "deconv-gui models remove half-imported" in line
    proc = run_cli("metrics", str(a), str(a))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    as_json = run_cli("models", "--json")  # stdout stays the usable models' JSON list
    assert as_json.returncode == 0
    assert "half-imported" not in as_json.stdout and isinstance(strict_json(as_json.stdout), list)
    (note,) = as_json.stderr.splitlines()  # ... and the broken entry is said beside it
    assert note.startswith("note: half-imported is broken: ")
    assert note.endswith("(deconv-gui models remove half-imported)")
    log = (paths.user_home() / "logs" / "deconv-gui.log").read_text(encoding="utf-8")
    assert "skipping user model 'half-imported'" in log


def test_photo_warnings_still_reach_stderr(tmp_path: Path) -> None:
    # warnings about the photo at hand are not log-only
    src = tmp_path / "grey.png"
    icc = dio.ImageCms.ImageCmsProfile(dio.ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(np.full((8, 8), 100, np.uint8), mode="L").save(src, icc_profile=icc)
    proc = run_cli("restore", str(src), "--model", "bicubic-x2", "-o", str(tmp_path / "o.png"))
    assert proc.returncode == 0
    assert "warning: o.png: the ICC profile does not match the L output" in proc.stderr


def _import_tiny_model(tmp_path: Path) -> str:
    from spandrel.architectures.Compact import Compact

    from deconv_gui.models.importer import import_model

    torch.manual_seed(0)
    net = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2)
    weights = tmp_path / "tiny.pth"
    torch.save(net.state_dict(), weights)
    return import_model(weights).id


def test_every_listed_user_model_can_be_removed_and_built_ins_say_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from deconv_gui.cli import main
    from deconv_gui.models.library import LOCK_NAME, REMOVED_IDS, removed_ids

    pytest.importorskip("spandrel")
    model_id = _import_tiny_model(tmp_path)
    root = paths.user_models_dir()
    # an entry made by hand, with a folder name imports would not choose: listed, so removable
    card = json.loads((root / model_id / "card.json").read_text(encoding="utf-8"))
    (root / model_id).rename(root / "Hand_Made")
    (root / "Hand_Made" / "card.json").write_text(json.dumps({**card, "id": "Hand_Made"}))
    _broken_entry("Broken Entry")
    listing = run_cli("models")
    assert listing.returncode == 0, listing.stderr
    ids = [ln.split("  ")[0].strip() for ln in listing.stdout.splitlines()]
    assert {"Hand_Made", "Broken Entry", "nlm-denoise"} <= set(ids)
    for removable in ("Hand_Made", "Broken Entry"):
        assert main(["models", "remove", removable]) == 0
        assert capsys.readouterr().out.strip() == f"removed {removable}"
    # (the lock file stays, and the record of removed ids, never given to another model)
    assert not [p for p in root.iterdir() if p.name not in (LOCK_NAME, REMOVED_IDS)]
    assert removed_ids() == {"Hand_Made", "Broken Entry"}
    for refused, why in [
        ("nlm-denoise", "built-in model"),
        ("bicubic-x2", "built-in model"),
        ("..", "not in the user model library"),
        (".", "not in the user model library"),
        ("../models", "not in the user model library"),
        (".hidden", "not in the user model library"),
        ("nope", "not in the user model library"),
    ]:
        assert main(["models", "remove", refused]) == 1
        assert why in one_error_line(capsys.readouterr().err)
    assert paths.user_home().is_dir()


def test_the_cli_leaves_no_log_handlers_behind(tmp_path: Path) -> None:
    from deconv_gui.cli import main

    root = logging.getLogger("deconv_gui")
    before = list(root.handlers)
    a = _photo(tmp_path / "a.png")
    assert main(["metrics", str(a), str(a)]) == 0
    assert root.handlers == before


def test_output_folder_blocked_by_a_file_says_so(tmp_path: Path) -> None:
    from deconv_gui.core.io import make_folder

    blocker = tmp_path / "photos.jpg"
    blocker.write_bytes(b"not a folder")
    with pytest.raises(ImageWriteError) as err:
        make_folder(blocker / "out" / "x2")
    assert str(err.value).endswith(f"{blocker} is a file, not a folder")
    with pytest.raises(ImageWriteError) as err:
        make_folder(blocker)
    assert str(err.value).endswith("a file of that name is there, not a folder")
    assert blocker.read_bytes() == b"not a folder"
    make_folder(tmp_path / "new" / "deeper")  # a missing folder is simply made
    assert (tmp_path / "new" / "deeper").is_dir()


def test_cli_failure_line_names_the_photo_once() -> None:
    from deconv_gui.progress import failure_line

    line = failure_line("in/a.png", "Cannot read a.png: the file is empty")
    assert line == "error: cannot read in/a.png: the file is empty"
    other = failure_line("in/a.png", "Cannot save a_x2.png: the disk is full")
    assert other == "error: in/a.png: Cannot save a_x2.png: the disk is full"
    assert (
        failure_line("b.png", "done before", skipped=True) == "warning: skipped b.png: done before"
    )


# ---------------------------------------------------------------------------- damaged JPEG data


def _textured(h: int = 240, w: int = 320, seed: int = 3) -> np.ndarray:
    """A photo-like picture: smooth colour gradients with fine texture (JPEG data that is not
    trivially small)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w, yy / h, 1 - xx / w], axis=2) * 180 + 40
    texture = rng.normal(0, 18, (h, w, 1))
    return np.clip(base + texture, 0, 255).astype(np.uint8)


def _jpeg_of(arr: np.ndarray, **options: object) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", **options)
    return buf.getvalue()


def _zeroed(data: bytes, start: int, size: int) -> bytes:
    out = bytearray(data)
    out[start : start + size] = bytes(size)
    return bytes(out)


def _chroma_tables_zeroed(data: bytes) -> bytes:
    """The file's second pair of Huffman table segments (the colour ones) zeroed."""
    starts = [m.start() for m in re.finditer(b"\xff\xc4", data[: data.index(b"\xff\xda")])]
    assert len(starts) == 4, starts
    return _zeroed(data, starts[2], data.index(b"\xff\xda") - starts[2])


def _damaged_jpegs() -> dict[str, bytes]:
    pic = _textured()
    baseline = _jpeg_of(pic, quality=90)
    progressive = _jpeg_of(pic, quality=90, progressive=True)
    optimized = _jpeg_of(pic, quality=85, optimize=True)
    full_colour = _jpeg_of(pic, quality=90, subsampling=0)
    cases = {}
    for label, data in (
        ("baseline", baseline),
        ("progressive", progressive),
        ("optimized", optimized),
        ("4:4:4", full_colour),
    ):
        assert len(data) > 24000, (label, len(data))  # room for 4 KiB at 16 KiB
        cases[f"{label}, 4 KiB zeroed a third in"] = _zeroed(data, len(data) // 3, 4096)
        cases[f"{label}, 4 KiB zeroed at 16 KiB"] = _zeroed(data, 16384, 4096)
        cases[f"{label}, the tail zeroed"] = _zeroed(data, len(data) - 3000, 2998)
    cases["baseline, colour Huffman tables zeroed"] = _chroma_tables_zeroed(baseline)
    cases["baseline, a quantisation table zeroed"] = _zeroed(baseline, 30, 16)
    cases["progressive, cut after its third scan"] = _after_scans(progressive, 3)
    return cases


def _after_scans(data: bytes, keep: int) -> bytes:
    """A progressive JPEG cut before its scan number ``keep + 1``, with an end marker: a
    valid-looking file that libjpeg shows blocky without a word."""
    starts = [m.start() for m in re.finditer(b"\xff\xda", data)]
    assert len(starts) > keep, len(starts)
    cut = data.rfind(b"\xff\xc4", 0, starts[keep])  # its tables come just before it
    cut = cut if cut > starts[keep - 1] else starts[keep]
    return data[:cut] + b"\xff\xd9"


DAMAGED_JPEGS = _damaged_jpegs()


def test_sixteen_zeroed_bytes_that_libjpeg_decodes_without_a_word_are_found(
    tmp_path: Path,
) -> None:
    """16 zero bytes in the picture data often decode to valid codes: libjpeg reports
    nothing and the picture shifts or changes colour from there. The standard Huffman
    tables (Pillow's, most cameras') cannot code 128 zero bits in a row: found from that."""
    from deconv_gui.core.jpeg_check import _strict_decode_message

    baseline = _jpeg_of(_textured(), quality=90)
    sos = baseline.index(b"\xff\xda")
    silent = [
        at
        for at in range(sos + 40, len(baseline) - 200, 401)
        if _strict_decode_message(_zeroed(baseline, at, 16)) is None
    ]
    assert len(silent) >= 3, silent  # what the decoder alone let through
    for at in silent:
        path = tmp_path / f"z{at}.jpg"
        path.write_bytes(_zeroed(baseline, at, 16))
        with pytest.raises(ImageReadError, match="16 or more bytes in a row are zeros"):
            load_image(path)


@pytest.mark.parametrize("case", sorted(DAMAGED_JPEGS))
def test_a_jpeg_with_damaged_data_is_refused_not_decoded_to_garbage(
    tmp_path: Path, case: str
) -> None:
    """libjpeg decodes such files without an error (Pillow passes no warning on): grey or
    scrambled blocks from the damage on. Each of these decodes in Pillow."""
    data = DAMAGED_JPEGS[case]
    import io

    Image.open(io.BytesIO(data)).load()  # what the app used to read, without a word
    path = tmp_path / "damaged.jpg"
    path.write_bytes(data)
    with pytest.raises(ImageReadError) as err:
        load_image(path)
    message = plain(str(err.value))
    assert message.startswith("Cannot read damaged.jpg: its JPEG ")
    assert "damaged" in message or "cut short" in message, message
    assert "would come out" in message  # what the photographer would have got


def test_the_cli_refuses_a_damaged_jpeg_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "in" / "holiday.jpg"
    src.parent.mkdir()
    src.write_bytes(DAMAGED_JPEGS["baseline, 4 KiB zeroed a third in"])
    out = tmp_path / "out"
    for args in (
        ("restore", str(src), "--model", "bicubic-x2", "-o", str(out / "x.png")),
        ("analyze", str(src)),
    ):
        proc = run_cli(*args)
        assert proc.returncode != 0, proc
        line = one_error_line(proc.stderr)
        assert "holiday.jpg: its JPEG data is damaged" in line, line
    assert not out.exists() or _listing(out) == []


@pytest.mark.parametrize(
    "options",
    [
        {"quality": 90},
        {"quality": 90, "progressive": True},
        {"quality": 60, "optimize": True, "subsampling": 0},
    ],
)
@pytest.mark.parametrize("padding", [0, 1, 3, 40])
def test_jpegs_padded_before_their_end_marker_open_as_every_reader_shows_them(
    tmp_path: Path, options: dict[str, object], padding: int
) -> None:
    """Cameras, drones and web cams write a few bytes (often zeros) before the end marker:
    libjpeg warns, every viewer shows the picture whole, and so do we."""
    clean = _jpeg_of(_textured(), **options)
    padded = clean[:-2] + bytes(padding) + clean[-2:]
    (tmp_path / "clean.jpg").write_bytes(clean)
    (tmp_path / "padded.jpg").write_bytes(padded)
    a = load_image(tmp_path / "clean.jpg").rgb
    b = load_image(tmp_path / "padded.jpg").rgb
    assert np.array_equal(a, b)


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGB"])
def test_clean_jpegs_of_every_colour_layout_pass_the_check(tmp_path: Path, mode: str) -> None:
    from deconv_gui.core.jpeg_check import check_jpeg

    pic = Image.fromarray(_textured(120, 160)).convert(mode)
    for options in ({"quality": 85}, {"quality": 85, "progressive": True}):
        path = tmp_path / f"{mode}.jpg"
        pic.save(path, "JPEG", **options)
        assert check_jpeg(path.read_bytes()) == (None, None), options
        assert load_image(path).rgb.shape == (120, 160, 3)


def test_a_device_this_computer_lacks_is_refused_once_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--device cuda`` without CUDA: one line before the first photo, not one failure per
    photo of a folder."""
    from deconv_gui import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        _photo(folder / f"p{i}.png", seed=i)
    out = tmp_path / "out"
    for args in (
        ["restore", str(folder), "--model", "bicubic-x2", "-o", str(out), "--device", "cuda"],
        ["restore", str(folder / "p0.png"), "--model", "nlm-denoise", "--device", "cuda"],
    ):
        assert cli.main(args) == 1
        err = capsys.readouterr().err
        line = one_error_line(err)
        assert line.startswith("error: --device cuda: CUDA is not available on this computer")
        assert line.endswith("; use 'cpu' or 'auto'"), line
        assert "failed" not in err and "p1.png" not in err, err
    assert not out.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["p0.png", "p1.png", "p2.png"]


def test_one_photo_that_fails_is_one_line(tmp_path: Path) -> None:
    """A one-photo run that fails says so in its error line alone (it also printed the run's
    summary, "0 saved, 1 failed", and "1 of 1 file(s) failed"); a run of several keeps them."""
    missing = tmp_path / "gone.jpg"
    proc = run_cli("restore", str(missing), "--model", "bicubic-x2")
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: cannot read {missing}: the file does not exist"
    good = _photo(tmp_path / "ok.png")
    proc = run_cli(
        "restore", str(good), str(missing), "--model", "bicubic-x2", "-o", str(tmp_path / "o")
    )
    assert proc.returncode == 1
    assert "1 saved, 1 failed" in proc.stderr and "1 of 2 file(s) failed" in proc.stderr


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_that_takes_no_new_files_is_not_called_missing(tmp_path: Path) -> None:
    proc = run_cli("restore", str(_photo(tmp_path / "a.png")), "--model", "bicubic-x2",
                   "-o", "/proc/out.png")  # fmt: skip
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    assert line.endswith("Cannot save out.png: /proc does not take new files"), line


@pytest.mark.parametrize("options", [{"quality": 90}, {"quality": 90, "progressive": True}])
def test_a_jpeg_lacking_only_its_end_marker_opens_whole(tmp_path: Path, options: dict) -> None:
    """An encoder or a copy that stopped before the last two bytes: all the picture data is
    there (libjpeg reads it whole), and Pillow had called the file incomplete. A file cut
    inside its picture data is still refused."""
    whole = _jpeg_of(_textured(), **options)
    assert whole.endswith(b"\xff\xd9")
    (tmp_path / "whole.jpg").write_bytes(whole)
    (tmp_path / "no_end.jpg").write_bytes(whole[:-2])
    before = (tmp_path / "no_end.jpg").read_bytes()
    assert np.array_equal(
        load_image(tmp_path / "no_end.jpg").rgb, load_image(tmp_path / "whole.jpg").rgb
    )
    assert (tmp_path / "no_end.jpg").read_bytes() == before  # read, not mended on disk
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(ImageReadError, match="damaged or incomplete"):
        load_image(tmp_path / "cut.jpg")
