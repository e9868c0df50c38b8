"""Fixtures for the model tests: tiny data, few threads, so the suite runs in seconds on CPU."""

from model_testdata import _few_threads, tiny_data  # noqa: F401  (fixtures shared with tests/core/training)
