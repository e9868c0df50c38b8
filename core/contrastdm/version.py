"""The engine's version: a leaf module (no imports), so any module and the packaging can read it."""

__version__ = "0.1.0"
