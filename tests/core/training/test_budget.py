import pytest
from model_testdata import tiny_config

from contrastdm.errors import InputError
from contrastdm.feedback import RecordingFeedback
from contrastdm.model.config import LearnerConfig
from contrastdm.training import budget, fit


@pytest.mark.parametrize("n_unlabelled, epochs", [(10, 1), (8192, 1), (20000, 2), (30000, 4), (10 ** 6, 4)])
def test_data_budget_passes_over_the_label_free_patches_about_once(n_unlabelled, epochs):
    cfg = LearnerConfig(budget="data", contrastive_epochs=4, contrastive_samples_per_epoch=8192)
    assert budget.contrastive_epochs(cfg, n_unlabelled) == epochs
    assert budget.contrastive_epochs(cfg.replace(budget="fixed"), n_unlabelled) == 4
    assert budget.contrastive_epochs(cfg.replace(contrastive_epochs=0), n_unlabelled) == 0


def test_unknown_budget_is_refused():
    with pytest.raises(InputError, match="budget must be one of fixed, data"):
        LearnerConfig(budget="tiny").validate()


def test_a_model_file_without_the_field_reads_as_the_fixed_budget():
    assert LearnerConfig.from_dict({}).budget == "fixed"


def _fit(data, **changes):
    fb = RecordingFeedback()
    return fit(unlabeled=data["unlabeled"][:40], x_train=data["x_train"], y_train=data["y_train"], n_classes=3,
               config=tiny_config(contrastive_samples_per_epoch=16, contrastive_epochs=4, **changes),
               device="cpu", progress=fb.progress, is_cancelled=fb.cancelled)


def test_data_budget_trains_once_on_every_label_with_fewer_pretraining_epochs(tiny_data):
    fixed, fitted = _fit(tiny_data), _fit(tiny_data, budget="data")
    assert fixed.validation["source"] == "carved" and "refit" in fixed.stage_seconds
    assert fixed.validation["contrastive_epochs"] == len(fixed.history["contrastive"]) == 4
    assert fitted.validation["source"] == "none" and "refit" not in fitted.stage_seconds
    assert fitted.validation["contrastive_epochs"] == len(fitted.history["contrastive"]) == 2  # 40 / 16 -> 2
    assert len(fitted.history["finetune"]) == fitted.config.finetune_epochs and not fitted.history["val_oa"]
    assert fitted.config.budget == "data"


def test_held_out_polygons_still_choose_the_epoch_under_the_data_budget(tiny_data):
    n = len(tiny_data["y_train"])
    split = (list(range(0, n, 2)), list(range(1, n, 2)))
    fitted = fit(unlabeled=None, x_train=tiny_data["x_train"], y_train=tiny_data["y_train"], n_classes=3,
                 config=tiny_config(budget="data"), device="cpu", split=split)
    assert fitted.validation["source"] == "polygons" and "refit" in fitted.stage_seconds
    assert len(fitted.history["val_oa"]) == fitted.config.finetune_epochs


def test_warm_start_cannot_choose_on_held_out_polygons():
    with pytest.raises(InputError, match="warm_start"):
        LearnerConfig(warm_start=True, validation_split="polygons", choose_on_held_out=True).validate()
    assert LearnerConfig.from_dict({}).warm_start is False
