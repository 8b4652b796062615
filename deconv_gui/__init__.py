"""Deconv GUI: desktop image restoration for photographers."""

__version__ = "0.1.0"
