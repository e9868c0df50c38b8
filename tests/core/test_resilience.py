"""Resource trouble while classifying: GPU out-of-memory is handled by halving the tile."""

import numpy as np
import torch

from contrastdm.bundle import load_model
from contrastdm.classify import _predict_split
from contrastdm.feedback import RecordingFeedback


class _SmallMemoryNetwork(torch.nn.Module):
    """The real network, behind a memory limit: tiles above ``max_rows`` rows raise CUDA's out-of-memory error."""

    def __init__(self, network, max_rows):
        super().__init__()
        self.network, self.max_rows, self.calls = network, max_rows, []

    def predict_dense(self, tile, **options):
        self.calls.append(tile.shape[-2])
        if tile.shape[-2] > self.max_rows:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated limit)")
        return self.network.predict_dense(tile, **options)


def test_out_of_memory_halves_the_tile_and_gives_the_same_map(trained):
    model = load_model(trained.model)
    halo = model.patch_size // 2
    rng = np.random.default_rng(0)
    features = rng.standard_normal((model.preprocessor.out_bands, 40 + 2 * halo, 30 + 2 * halo)).astype(np.float32)
    whole = _predict_split(model.network, features, halo, torch.device("cpu"), RecordingFeedback())
    limited = _SmallMemoryNetwork(model.network, max_rows=12 + 2 * halo)
    feedback = RecordingFeedback()
    pieces = _predict_split(limited, features, halo, torch.device("cpu"), feedback)
    np.testing.assert_allclose(pieces, whole, atol=1e-5)
    assert max(limited.calls) > 12 + 2 * halo and len(limited.calls) > 3
    assert any("out of memory" in e[2] for e in feedback.events if e[0] == "message")
