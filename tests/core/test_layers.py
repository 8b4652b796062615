"""The core, models and training never import Qt (DESIGN.md, section 1)."""

from __future__ import annotations

import subprocess
import sys


def test_headless_packages_do_not_import_qt() -> None:
    code = (
        "import sys, pkgutil, importlib\n"
        "import deconv_gui.cli, deconv_gui.core, deconv_gui.models, deconv_gui.training\n"
        "for pkg in (deconv_gui.core, deconv_gui.models, deconv_gui.training):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "from deconv_gui.models.catalog import default_registry\n"
        "default_registry()\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"Qt imported by the headless layers: {out.stdout}"
