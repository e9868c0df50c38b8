import pytest
import torch
from model_testdata import make_patches

from contrastdm.errors import InputError


def test_validation_slice_is_carved_from_the_labels(context, tiny_data):
    ctx = context(refit_all=True)
    n = len(tiny_data["y_train"])
    assert ctx.validation == {"source": "carved", "n": len(ctx.y_va)}
    assert len(ctx.y_tr) + len(ctx.y_va) == n and len(ctx.y_all) == n and len(ctx.y_va) > 0
    assert torch.bincount(ctx.y_va).tolist() == [2, 2, 2]  # 20% of each class's 12
    assert ctx.refit and ctx.late_diffusion and not ctx.early_diffusion and ctx.pretrained


def test_given_validation_data_leave_every_label_for_training_and_nothing_to_refit(context, tiny_data):
    ctx = context(x_val=tiny_data["x_test"][:9], y_val=tiny_data["y_test"][:9], refit_all=True,
                  diffusion_stage="pretrained", contrastive_epochs=0)
    assert ctx.validation == {"source": "given", "n": 9}
    assert torch.equal(ctx.x_tr, ctx.x_all) and len(ctx.y_va) == 9
    assert not ctx.refit and ctx.early_diffusion and not ctx.late_diffusion and not ctx.pretrained


def test_no_diffusion_model_means_no_diffusion_stage(context):
    ctx = context(synthetic=False, refine=False)
    assert ctx.net.diffusion is None and not ctx.early_diffusion and not ctx.late_diffusion


def test_empty_unlabelled_patches_count_as_none(context):
    assert context(unlabeled=make_patches(0)[0]).unlabelled is None


@pytest.mark.parametrize("change, message", [
    (dict(patch_size=7), "patch_size is 7"),
    (dict(unlabeled=make_patches(2, bands=4)[0]), "unlabelled patches"),
])
def test_inputs_that_do_not_fit_the_config_are_input_errors(context, change, message):
    with pytest.raises(InputError, match=message):
        context(**change)


def test_labels_outside_the_classes_are_input_errors(tiny_data):
    from model_testdata import tiny_config

    from contrastdm.training.context import make_context

    with pytest.raises(InputError, match="0..2"):
        make_context(tiny_config(), torch.device("cpu"), unlabeled=None, x_train=tiny_data["x_train"],
                     y_train=tiny_data["y_train"] + 1, n_classes=3)


def test_cpu_precision_chooses_the_training_autocast(context, monkeypatch):
    assert context().autocast is None  # float32 by default
    bf16 = context(cpu_precision="bfloat16").autocast
    assert (bf16.device_type, bf16.dtype) == ("cpu", torch.bfloat16)
    for native in (False, True):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda native=native: native, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
        auto = context(cpu_precision="auto").autocast
        assert (auto.dtype if auto else None) == (torch.bfloat16 if native else None)


def test_an_unknown_cpu_precision_is_refused(context):
    with pytest.raises(InputError, match="cpu_precision"):
        context(cpu_precision="float16")
