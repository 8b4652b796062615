# PyInstaller hook for the torchvision stand-in: replaces pyinstaller-hooks-contrib's
# hook-torchvision (which asks for the compiled `torchvision._C` the stand-in does not have).
hiddenimports = ["torchvision.transforms", "torchvision.transforms.functional"]
