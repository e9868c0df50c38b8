"""Fixtures for the model tests: tiny data, few threads, so the suite runs in seconds on CPU."""

import pytest
import torch
from model_testdata import tiny_dataset


@pytest.fixture(scope="session")
def tiny_data():
    return tiny_dataset()


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep the tiny tests from competing for the machine's cores."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
