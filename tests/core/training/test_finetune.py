import pytest
import torch

from contrastdm.model.selection import EpochSelector
from contrastdm.training import finetune, pseudo
from contrastdm.training.common import accuracy


def _supervised(context, **changes):
    return context(contrastive_epochs=0, synthetic=False, refine=False, finetune_epochs=6, **changes)


def test_selection_returns_to_the_chosen_epoch(context, tiny_data):
    # Validation labels shifted by one class: the better the network learns, the worse it scores there, so
    # the chosen epoch is an early one and the last epoch's weights must be replaced by it.
    ctx = _supervised(context, refit_all=False, x_val=tiny_data["x_test"], y_val=(tiny_data["y_test"] + 1) % 3)
    selection = finetune.select_epoch(ctx)
    curve = ctx.history["val_oa"]
    assert len(curve) == len(ctx.history["finetune"]) == 6
    replay = EpochSelector(len(ctx.y_va))
    for epoch, oa in enumerate(curve, 1):
        replay.update(epoch, oa)
    v = ctx.validation
    assert selection.epoch == v["best_epoch"] == replay.epoch < 6
    assert v["oa"] == curve[v["best_epoch"] - 1] > curve[-1] and v["max_oa"] == max(curve)
    assert accuracy(ctx.net, ctx.x_va, ctx.y_va, ctx.device)[0] == v["oa"]  # the chosen weights, not the last
    assert selection.start_state is None and not ctx.net.training


def test_selection_keeps_the_starting_weights_only_for_a_refit(context):
    ctx = _supervised(context, refit_all=True)
    start = {k: v.clone() for k, v in ctx.net.state_dict().items()}
    selection = finetune.select_epoch(ctx)
    assert selection.start_state.keys() == start.keys()
    assert all(torch.equal(start[k], selection.start_state[k]) for k in start)


@pytest.mark.parametrize("epoch", [2, 6])
def test_the_refit_trains_on_every_label_and_stops_at_the_selected_epoch(context, epoch):
    events = []
    ctx = _supervised(context, refit_all=True, progress=lambda s, f, m="": events.append(f))
    start = {k: v.clone() for k, v in ctx.net.state_dict().items()}
    finetune.refit(ctx, finetune.Selection(epoch, start))
    assert len(ctx.history["finetune_refit"]) == epoch and ctx.history["finetune"] == []
    assert ctx.history["val_oa"] == []  # nothing left to validate on
    assert ctx.validation["refit_epochs"] == epoch and ctx.validation["refit_samples"] == len(ctx.y_all)
    # The schedule spans every fine-tuning epoch: stopping early reports the refit's share, ending at 1.
    assert events == sorted(events) and events[0] > 0.5 and events[-1] == pytest.approx(1.0)


def test_the_refit_replays_selection_on_the_same_schedule(context):
    """Refitting on the training split alone from the starting weights reproduces the selection run's
    losses for as many epochs as it runs (same batches, same schedule): only the data differ in a real refit."""
    ctx = _supervised(context, refit_all=True)
    ctx.x_all, ctx.y_all = ctx.x_tr, ctx.y_tr
    rnd_state = ctx.rnd.batches.get_state(), torch.get_rng_state()
    selection = finetune.select_epoch(ctx)
    ctx.rnd.batches.set_state(rnd_state[0])
    torch.set_rng_state(rnd_state[1])
    finetune.refit(ctx, finetune.Selection(3, selection.start_state))
    assert ctx.history["finetune_refit"] == pytest.approx(ctx.history["finetune"][:3], abs=1e-6)


def test_pseudo_labels_are_refreshed_on_their_rounds(context):
    ctx = context(finetune_epochs=6, pseudo_label_per_class=2, pseudo_label_threshold=0.0, pseudo_label_start=0.3,
                  pseudo_label_rounds=2, refit_all=False)
    pool = pseudo.draw_pool(ctx)
    finetune.select_epoch(ctx, pool=pool)
    assert pseudo.rounds(ctx.cfg, 6) == {2, 4}
    counts = ctx.history["pseudo_labels"]
    assert len(counts) == 2 and all(1 <= c <= 6 for c in counts)  # threshold 0: up to k of each predicted class
