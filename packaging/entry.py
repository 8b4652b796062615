"""PyInstaller entry point of the frozen app (the same `main` as the `deconv-gui` script)."""

import multiprocessing
import sys

if __name__ == "__main__":
    # A frozen executable re-runs itself for multiprocessing children (spawn on Windows and
    # macOS, and torch DataLoader workers); freeze_support() turns those runs into workers.
    multiprocessing.freeze_support()
    from deconv_gui.cli import main

    sys.exit(main())
