"""Fixtures for the model tests: tiny data, few threads, so the suite runs in seconds on CPU."""

import pytest
import torch
from model_testdata import make_patches


@pytest.fixture(scope="session")
def tiny_data():
    x_tr, y_tr = make_patches(12, seed=1)
    x_unl, _ = make_patches(20, seed=2)
    x_te, y_te = make_patches(20, seed=3)
    return dict(unlabeled=x_unl, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep the tiny tests from competing for the machine's cores."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
