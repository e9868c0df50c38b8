import torch

from contrastdm.training import pseudo


def test_rounds_are_spread_from_the_start_fraction(context):
    cfg = context(pseudo_label_start=0.3, pseudo_label_rounds=3).cfg
    assert pseudo.rounds(cfg, 10) == {3, 5, 7}
    assert pseudo.rounds(cfg.replace(pseudo_label_rounds=0), 10) == set()


def test_the_pool_is_drawn_only_for_semi_supervised_configurations(context):
    ctx = context(pseudo_label_per_class=2, pseudo_label_pool=25)
    assert len(pseudo.draw_pool(ctx)) == 25
    assert pseudo.draw_pool(context(pseudo_label_per_class=0)) is None
    supervised = context(pseudo_label_per_class=2, contrastive_epochs=0, synthetic=False, refine=False)
    assert pseudo.draw_pool(supervised) is None
    assert pseudo.draw_pool(context(pseudo_label_per_class=2, unlabeled=None)) is None


def test_labels_are_the_most_confident_predictions_at_most_k_per_class(context):
    ctx = context(pseudo_label_per_class=2, pseudo_label_threshold=0.0)
    pool = ctx.unlabelled
    idx, labels = pseudo.label(ctx, pool)
    assert len(idx) <= 6 and torch.bincount(labels, minlength=3).max() <= 2
    with torch.no_grad():
        probs = torch.softmax(ctx.net(pool), 1)
    assert torch.equal(probs[idx].argmax(1), labels)
    for c in labels.unique():  # the kept ones are the class's most confident
        predicted = probs.argmax(1) == c
        kept = probs[idx[labels == c], c]
        assert kept.min() >= probs[predicted, c].sort(descending=True).values[len(kept) - 1] - 1e-6


def test_nothing_is_kept_below_the_threshold(context):
    ctx = context(pseudo_label_per_class=2, pseudo_label_threshold=1.0)
    history = {"pseudo_labels": []}
    assert pseudo.refresh(ctx, ctx.unlabelled, history) is None  # an untrained network is never that sure
    assert history["pseudo_labels"] == [0]
