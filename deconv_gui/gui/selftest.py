"""`run_gui_self_test`: drive the real window once (offscreen works) and prove it works.

Opens the main window, loads the bundled sample photo, runs the default denoise model
through the real worker thread, waits for the SSIM readout of the finished result, saves a
screenshot and closes cleanly. Returns 0 only when all of that happened.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

DEFAULT_TIMEOUT_S = 300.0
MIN_SIZE = (1280, 800)


class SelfTestError(Exception):
    pass


def run_gui_self_test(
    screenshot: Path | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> int:
    from deconv_gui.gui.app import use_offscreen_if_headless

    use_offscreen_if_headless()
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from deconv_gui.gui.app import create_application
    from deconv_gui.gui.binding import binding_defect
    from deconv_gui.gui.main_window import MainWindow
    from deconv_gui.gui.runner import running_worker_threads
    from deconv_gui.models.catalog import default_registry
    from deconv_gui.paths import sample_photo

    t0 = time.monotonic()
    app = create_application()
    window = None
    tmp = tempfile.TemporaryDirectory(prefix="deconv-selftest-")
    problem = ""

    def wait_for(condition, what: str) -> None:
        """Run the event loop (sleeping between events) until `condition()` holds."""
        deadline = t0 + timeout_s
        loop = QEventLoop()
        while not condition():
            if (
                window is not None
                and window.message_bar.kind == "error"
                and window.message_bar.text()
            ):
                raise SelfTestError(f"{what}: the window reported: {window.message_bar.text()}")
            if time.monotonic() > deadline:
                raise SelfTestError(f"timed out after {timeout_s:.0f}s waiting for {what}")
            QTimer.singleShot(25, loop.quit)
            loop.exec()

    try:
        defect = binding_defect()
        if defect:
            raise SelfTestError(defect)
        sample = sample_photo()
        if not sample.is_file():
            raise SelfTestError(f"sample photo missing: {sample}")
        registry = default_registry()
        spec = registry.default_for("denoise")
        if spec is None:
            raise SelfTestError("no denoise model registered")
        settings = QSettings(str(Path(tmp.name) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(registry, settings)
        window.ask = lambda *_: True
        window.resize(*MIN_SIZE)
        window.show()
        docs = window.open_paths([sample])
        if not docs:
            raise SelfTestError("the sample photo did not open")
        doc = docs[0]
        wait_for(lambda: doc.is_ready or doc.state == "error", "the sample photo to load")
        if doc.state == "error":
            raise SelfTestError(f"loading the sample failed: {doc.error}")
        if not window.restore_panel.select_model(spec.id):
            raise SelfTestError(f"model {spec.id} is not in the model panel")
        window.restore_panel.set_device("auto")
        if not window.restore_panel.run_button.isEnabled():
            raise SelfTestError("the Run button is disabled")
        window.restore_panel.run_button.click()
        if not window.is_busy:
            raise SelfTestError("clicking Run did not start a job")
        wait_for(lambda: not window.is_busy, f"{spec.id} to finish")
        if doc.result is None or doc.result.partial:
            raise SelfTestError(
                f"the run ended without a result: {window.message_bar.text() or 'no message'}"
            )
        wait_for(
            lambda: (
                doc.result.final is not None
                and window.quality_panel.readout().after_ssim is not None
                and not window.quality_panel.readout().partial
            ),
            "the SSIM readout",
        )
        ssim_text = window.quality_panel.after_ssim_text()
        if not ssim_text or ssim_text == "—":
            raise SelfTestError("the SSIM readout is empty")
        app.processEvents()
        if screenshot is not None:
            size = window.size()
            if size.width() < 1200 or size.height() < 750:
                raise SelfTestError(
                    f"window too small for the screenshot: {size.width()}x{size.height()}"
                )
            shot = window.grab()
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            if not shot.save(str(screenshot)):
                raise SelfTestError(f"could not write the screenshot {screenshot}")
        readout = window.quality_panel.readout()
        print(
            f"gui self-test ok: {spec.id} on {doc.photo.width}x{doc.photo.height} sample, "
            f"SSIM to input {readout.after_ssim:.4f}, PSNR {readout.after_psnr:.2f} dB, "
            f"{time.monotonic() - t0:.1f}s" + (f", screenshot {screenshot}" if screenshot else "")
        )
    except SelfTestError as exc:
        problem = str(exc)
    except Exception as exc:  # a bug: report it, do not crash
        import traceback

        traceback.print_exc()
        problem = f"unexpected {type(exc).__name__}: {exc}"
    finally:
        if window is not None:
            window.shutdown()
            window.close()
            window.deleteLater()
        app.processEvents()
        QApplication.sendPostedEvents(None, 0)
        tmp.cleanup()
    if not problem and running_worker_threads():
        problem = "worker threads still running after closing the window"
    if problem:
        print(f"gui self-test FAILED: {problem}", file=sys.stderr)
        return 1
    return 0
