"""The plugin's copies of the engine's choices (it never imports the engine) equal contrastdm/choices.py."""

import pytest
from qgis.core import QgsApplication

from contrastdm import choices
from contrastdm_qgis import algorithm_base, dialog

PAIRS = [
    ("PRESETS", "DEFAULT_PRESET", "PRESET"),
    ("DEVICES", "DEFAULT_DEVICE", "DEVICE"),
    ("PRECISIONS", "DEFAULT_PRECISION", "PRECISION"),
    ("REDUCTIONS", "DEFAULT_REDUCTION", "REDUCTION"),
    ("SPECTRAL_MEMBER", "DEFAULT_SPECTRAL_MEMBER", "SPECTRAL_MEMBER"),
]


@pytest.mark.parametrize("names, default, parameter", PAIRS)
def test_plugin_lists_equal_the_engines(names, default, parameter):
    assert list(getattr(algorithm_base, names)) == list(getattr(choices, names))
    assert getattr(algorithm_base, default) == getattr(choices, default)


@pytest.mark.parametrize("names, default, parameter", PAIRS)
def test_processing_parameters_offer_the_engines_choices(qgis_app, names, default, parameter):
    algorithm = QgsApplication.processingRegistry().algorithmById("contrastdm:train_and_classify")
    definition = algorithm.parameterDefinition(parameter)
    assert definition.options() == list(getattr(choices, names))
    assert definition.defaultValue() == getattr(choices, default)


def test_dialog_describes_every_preset():
    assert list(dialog.PRESET_HELP) == list(choices.PRESETS)
