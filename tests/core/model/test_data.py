import numpy as np
import torch

from contrastdm.model.data import on_device, stratified_split


def test_validation_slice_is_stratified_and_never_takes_a_class_last_sample():
    y = np.array([0] * 10 + [1] * 5 + [2] * 1)
    tr, va = stratified_split(y, 0.2, seed=0)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(16))
    assert np.bincount(y[va], minlength=3).tolist() == [2, 1, 0]


def test_tensors_stay_put_off_the_gpu():
    x = torch.zeros(3)
    assert on_device(x, torch.device("cpu")) is x
