"""A minimal stand-in for torchvision, used only inside the CPU bundle.

Why: spandrel (the model-import library) imports ``torchvision.transforms.functional`` at
import time for two of its ~45 architectures (RestoreFormer: ``normalize``; LaMa: ``rotate``
and ``InterpolationMode``). A torchvision wheel must be built for the exact torch build beside
it; PyPI only has CUDA-linked torchvision wheels, whose ``_C.so`` needs ``libtorch_cuda.so``
and fails with "operator torchvision::nms does not exist" next to a ``+cpu`` torch. The real
fix is the CPU torchvision from the PyTorch CPU index (see packaging/README.md); where that
index cannot be reached, packaging/deconv-gui.spec puts this package in the bundle instead.

The three names below are ports of torchvision 0.29's tensor code paths (BSD-3-Clause,
Copyright (c) Soumith Chintala 2016, see THIRD_PARTY_NOTICES.md), checked against the real
torchvision by packaging/torchvision_shim/check_shim.py. Anything else raises ImportError.
"""

__version__ = "0.0.0+deconv-gui-shim"
IS_DECONV_GUI_SHIM = True
