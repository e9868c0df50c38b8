import torch

from contrastdm.training.pretrain import pretrain


def _encoder_state(ctx):
    return {k: v.clone() for k, v in ctx.net.encoder.state_dict().items()}


def test_pretraining_moves_the_encoder_and_records_one_loss_per_epoch(context):
    ctx = context(contrastive_epochs=2)
    before = _encoder_state(ctx)
    pretrain(ctx)
    assert len(ctx.history["contrastive"]) == 2
    after = ctx.net.encoder.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert ctx.net.head.net[1].weight.grad is None  # the head is not part of this stage


def test_no_contrastive_epochs_leaves_the_encoder_alone(context):
    ctx = context(contrastive_epochs=0)
    before = _encoder_state(ctx)
    pretrain(ctx)
    assert ctx.history["contrastive"] == []
    assert all(torch.equal(before[k], v) for k, v in ctx.net.encoder.state_dict().items())
