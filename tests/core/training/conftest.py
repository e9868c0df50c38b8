"""Fixtures for the training tests: tiny data, few threads, and fresh training contexts on CPU."""

import pytest
import torch
from model_testdata import _few_threads, tiny_config, tiny_data  # noqa: F401  (shared fixtures)

from contrastdm.training.context import make_context


@pytest.fixture
def context(tiny_data):  # noqa: F811  (the fixture, not the import)
    """A factory of TrainingContexts for ``tiny_config(**changes)``, seeded as ``fit`` seeds one."""

    def make(x_val=None, y_val=None, progress=None, unlabeled="tiny", **changes):
        cfg = tiny_config(**changes).validate()
        torch.manual_seed(cfg.seed)
        return make_context(cfg, torch.device("cpu"),
                            unlabeled=tiny_data["unlabeled"] if isinstance(unlabeled, str) else unlabeled,
                            x_train=tiny_data["x_train"], y_train=tiny_data["y_train"], x_val=x_val, y_val=y_val,
                            n_classes=3, progress=progress)

    return make
