"""Only ``torchvision.transforms.functional`` exists in this stand-in (see the package doc)."""
