"""`deconv_gui.logs.WarningCollector`: what the app and batch records show of the warnings
the CLI prints on stderr."""

from __future__ import annotations

import logging
import threading

import pytest

from deconv_gui.logs import LOG_ONLY, WarningCollector

log = logging.getLogger("deconv_gui.core.some_module")


def test_this_threads_warnings_each_once_and_not_log_only_ones() -> None:
    elsewhere = threading.Thread(target=lambda: log.warning("another thread's photo"))
    with WarningCollector() as said:
        log.warning("%s has %d frames", "a.gif", 3)
        log.info("not a warning")
        log.warning("a.gif has 3 frames")  # said again: kept once
        log.warning("the model library has a broken entry", extra=LOG_ONLY)
        logging.getLogger("someone.else").warning("not ours")
        elsewhere.start()
        elsewhere.join()
        log.error("an error counts too")
    log.warning("after the block")
    assert said == ["a.gif has 3 frames", "an error counts too"]


def test_a_step_of_a_generator_ending_inside_passes_through() -> None:
    def gen():
        log.warning("while stepping")
        yield 1

    g = gen()
    into: list[str] = []
    with WarningCollector(into):
        assert next(g) == 1
    with pytest.raises(StopIteration), WarningCollector(into):
        next(g)
    assert into == ["while stepping"]
    assert not any(
        isinstance(h, WarningCollector) for h in logging.getLogger("deconv_gui").handlers
    )


def test_warnings_as_sentences_keep_names_as_written() -> None:
    from deconv_gui.logs import as_sentences

    said = [
        "ignoring unreadable EXIF data in a.jpg",
        "img_0001.tif has 2 frames (an animation or pages): only the first is read",
        "pyexiv2 is not installed: XMP and IPTC metadata are not kept",
        "Already a sentence.",
    ]
    assert as_sentences(said) == (
        "Ignoring unreadable EXIF data in a.jpg. "
        "img_0001.tif has 2 frames (an animation or pages): only the first is read. "
        "pyexiv2 is not installed: XMP and IPTC metadata are not kept. "
        "Already a sentence."
    )
    assert as_sentences([]) == ""
