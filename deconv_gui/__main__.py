import sys

from deconv_gui.cli import main

sys.exit(main())
