"""contrastdm.choices is the one list of the engine's named options: the CLI and the engine agree with it."""

import argparse
import ast
from pathlib import Path

from contrastdm import choices, device, reduce
from contrastdm.cli import build_parser
from contrastdm.model import config as model_config
from contrastdm.model import spectral

CHOICES = Path(choices.__file__)


def test_choices_module_imports_nothing():
    # Import-light by construction: the CLI, the engine and tests may all read it cheaply.
    tree = ast.parse(CHOICES.read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]


def test_defaults_are_among_the_choices():
    assert choices.DEFAULT_PRESET in choices.PRESETS
    assert choices.DEFAULT_DEVICE in choices.DEVICES
    assert choices.DEFAULT_REDUCTION in choices.REDUCTIONS
    assert choices.DEFAULT_SPECTRAL_MEMBER in choices.SPECTRAL_MEMBER


def test_engine_modules_use_the_same_lists():
    assert device.DEVICES is choices.DEVICES
    assert reduce.REDUCTIONS is choices.REDUCTIONS
    assert tuple(model_config.PRESETS) == choices.PRESETS
    assert model_config.DEFAULT_PRESET == choices.DEFAULT_PRESET
    assert tuple(spectral.SETTINGS) == choices.SPECTRAL_MEMBER


def _options(parser: argparse.ArgumentParser, command: str) -> dict:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return {opt: action for action in sub._actions for opt in action.option_strings}


def test_cli_offers_the_choices():
    parser = build_parser()
    for command in ("train", "run"):
        options = _options(parser, command)
        assert tuple(options["--preset"].choices) == choices.PRESETS
        assert options["--preset"].default == choices.DEFAULT_PRESET
        assert tuple(options["--reduction"].choices) == choices.REDUCTIONS
        assert options["--reduction"].default == choices.DEFAULT_REDUCTION
        assert tuple(options["--spectral-member"].choices) == choices.SPECTRAL_MEMBER
        assert tuple(options["--progress"].choices) == choices.PROGRESS
    for command in ("train", "run", "classify", "suggest"):
        option = _options(parser, command)["--device"]
        assert option.default == choices.DEFAULT_DEVICE
        assert all(name in option.help for name in choices.DEVICES)
        precision = _options(parser, command)["--cpu-precision"]
        assert tuple(precision.choices) == choices.PRECISIONS
        assert precision.default in (None, choices.DEFAULT_PRECISION)  # None: training's preset decides
