import functools

import torch

from contrastdm.model.diffusion import FeatureDiffusion, make_alphas_cumprod

D, K = 8, 3


def _clusters(n_per_class=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(K, D, generator=g) * 4 + 10.0  # raw scale far from N(0, 1): tests normalisation
    labels = torch.arange(K).repeat_interleave(n_per_class)
    return centres[labels] + 0.4 * torch.randn(len(labels), D, generator=g), labels, centres


@functools.lru_cache(maxsize=1)
def _fitted(steps=600):
    torch.manual_seed(0)
    feats, labels, centres = _clusters()
    model = FeatureDiffusion(D, K, hidden=64, blocks=2, timesteps=200, cond_dropout=0.15)
    losses = model.fit(feats, labels, steps, batch_size=128, learning_rate=3e-3, generator=torch.Generator().manual_seed(0))
    return model, feats, labels, centres, losses


def test_schedules_are_decreasing():
    for name in ("cosine", "linear"):
        ac = make_alphas_cumprod(name, 1000)
        assert ac.shape == (1000,) and (ac[1:] < ac[:-1]).all() and 0 < ac[-1] < 0.01 and ac[0] > 0.99


def test_fit_reduces_loss_and_samples_lie_near_their_class():
    model, feats, labels, centres, losses = _fitted()
    assert sum(losses[-10:]) / 10 < 0.7 * sum(losses[:5]) / 5
    torch.testing.assert_close(model.feature_mean, feats.mean(0))
    want = torch.arange(K).repeat_interleave(30)
    synth = model.sample(want, ddim_steps=20, guidance=2.0, generator=torch.Generator().manual_seed(1))
    assert synth.shape == (90, D) and torch.isfinite(synth).all()
    real_centroids = torch.stack([feats[labels == c].mean(0) for c in range(K)])
    nearest = torch.cdist(synth, real_centroids).argmin(1)
    assert (nearest == want).float().mean() >= 0.9


def test_refine_is_deterministic_and_pulls_toward_the_manifold():
    model, feats, labels, centres, _ = _fitted()
    g = torch.Generator().manual_seed(2)
    noisy = feats[:30] + 1.5 * torch.randn(30, D, generator=g)
    noise = torch.randn(D, generator=g)
    a = model.refine(noisy, None, strength=0.4, ddim_steps=20, noise=noise)
    b = model.refine(noisy, None, strength=0.4, ddim_steps=20, noise=noise)
    assert torch.equal(a, b)
    # Refining one row at a time gives the same result (no batch dependence).
    torch.testing.assert_close(model.refine(noisy[3:4], None, 0.4, 20, noise=noise), a[3:4], atol=1e-5, rtol=1e-5)
    real_centroids = torch.stack([feats[labels == c].mean(0) for c in range(K)])
    before = torch.cdist(noisy, real_centroids).min(1).values.mean()
    after = torch.cdist(a, real_centroids).min(1).values.mean()
    assert after < before
    assert torch.equal(model.refine(noisy, None, strength=0.0), noisy)
