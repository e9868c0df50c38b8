"""The model file: safetensors weights plus JSON metadata. Loading never executes code (no pickle)."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ModelFileError, OutputError
from .io.atomic import atomic_outputs
from .io.styles import color_to_hex
from .io.writer import ClassInfo
from .preprocess import Preprocessor
from .version import __version__

FORMAT = "contrastdm-model"
FORMAT_VERSION = 1
_NET, _PRE, _SPECTRAL = "net.", "preprocess.", "spectral."


@dataclass
class Model:
    network: object  # model.network.ContrastDMNet
    preprocessor: Preprocessor
    classes: list[ClassInfo]
    metadata: dict
    spectral: object = None  # the spectral member (torch module) when the configuration has it "on"

    @property
    def patch_size(self) -> int:
        return int(self.metadata["config"]["patch_size"])

    @property
    def in_bands(self) -> int:
        return int(self.metadata["in_bands"])

    @property
    def class_ids(self) -> np.ndarray:
        return np.array([c.id for c in self.classes], dtype=np.int64)


def save_model(path, model: Model, inputs=()) -> None:
    """Write the model file atomically (temporary file moved into place on success)."""
    import torch
    from safetensors.torch import save_file

    tensors = {_NET + k: v.detach().to("cpu").contiguous() for k, v in model.network.state_dict().items()}
    if model.spectral is not None:
        tensors.update({_SPECTRAL + k: v.detach().to("cpu").contiguous() for k, v in model.spectral.state_dict().items()})
    for name, array in model.preprocessor.to_arrays().items():
        tensors[_PRE + name] = torch.from_numpy(np.ascontiguousarray(array))
    metadata = dict(model.metadata)
    metadata.update({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "engine_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "classes": [{"id": c.id, "name": c.name, "color": color_to_hex(c.color)} for c in model.classes],
    })
    try:
        with atomic_outputs(path, inputs=inputs) as (tmp,):
            save_file(tensors, str(tmp), metadata={"contrastdm": json.dumps(metadata)})
    except OSError as exc:
        raise OutputError(f"cannot write the model file (disk full or folder not writable?): {exc}") from exc


def read_metadata(path) -> dict:
    """The JSON metadata of a model file, read from the safetensors header only."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except Exception as exc:  # safetensors raises its own error type for every malformed file
        raise ModelFileError(f"not a ContrastDM model file (unreadable safetensors header): {path}") from exc
    try:
        metadata = json.loads(header["contrastdm"])
    except (KeyError, ValueError) as exc:
        raise ModelFileError(f"not a ContrastDM model file (no ContrastDM metadata): {path}") from exc
    if metadata.get("format") != FORMAT:
        raise ModelFileError(f"not a ContrastDM model file: {path}")
    if int(metadata.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFileError(
            f"model file format {metadata['format_version']} is newer than this engine supports "
            f"({FORMAT_VERSION}); update ContrastDM: {path}")
    return metadata


def load_model(path, device="cpu") -> Model:
    from safetensors.torch import load_file

    from .io.styles import parse_color
    from .model.config import LearnerConfig
    from .model.network import ContrastDMNet

    metadata = read_metadata(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:
        raise ModelFileError(f"model file is damaged or truncated: {path}") from exc
    try:
        config = LearnerConfig.from_dict(metadata["config"])
        network = ContrastDMNet(int(metadata["n_features"]), len(metadata["classes"]), config)
        state = {k[len(_NET):]: v for k, v in tensors.items() if k.startswith(_NET)}
        network.load_state_dict(state, strict=True)
        pre = {k[len(_PRE):]: v.numpy() for k, v in tensors.items() if k.startswith(_PRE)}
        preprocessor = Preprocessor.from_arrays(pre)
        classes = [ClassInfo(int(c["id"]), str(c["name"]), parse_color(c["color"])) for c in metadata["classes"]]
        member = _load_member(config, {k[len(_SPECTRAL):]: v for k, v in tensors.items() if k.startswith(_SPECTRAL)},
                              int(metadata["in_bands"]), len(classes))
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"model file does not match this engine's model layout: {path} ({exc})") from exc
    network.eval()
    network.to(device)
    if member is not None:
        member.eval().to(device)
    return Model(network, preprocessor, classes, metadata, member)


def _load_member(config, state: dict, bands: int, n_classes: int):
    """The spectral member of a model file, or None; files written before it existed have none."""
    from .model.spectral import build_member

    if config.spectral_member != "on":
        if state:
            raise ValueError("spectral member weights in a model configured without one")
        return None
    if not state:
        raise ValueError("the configuration has a spectral member but the file holds no weights for it")
    member = build_member(bands, n_classes)
    member.load_state_dict(state, strict=True)
    return member


WAVELENGTH_TOLERANCE_NM = 5.0  # a band of another scene matches a model's band when its centre is this close


def _band_record(model: Model) -> dict:
    """The model's kept bands; files written before band selection used every band."""
    record = model.metadata.get("bands")
    if record:
        return record
    return {"raster_count": model.in_bands, "indices": list(range(model.in_bands)),
            "wavelengths": model.metadata.get("wavelengths")}


def _wavelength_list(values) -> str:
    shown = ", ".join(f"{v:.1f}" for v in values[:8])
    return shown + (f" and {len(values) - 8} more" if len(values) > 8 else "") + " nm"


def _match_by_wavelength(wanted, available) -> tuple[int, ...]:
    available = np.asarray(available, dtype=np.float64)
    nearest = [int(np.argmin(np.abs(available - w))) for w in wanted]
    missing = [w for w, j in zip(wanted, nearest) if abs(available[j] - w) > WAVELENGTH_TOLERANCE_NM]
    if missing:
        raise ModelFileError(f"the raster has no band within {WAVELENGTH_TOLERANCE_NM:g} nm of {len(missing)} of the "
                             f"model's bands: {_wavelength_list(missing)}")
    if len(set(nearest)) < len(nearest):
        raise ModelFileError("the raster's bands are too coarse for the model's: two model bands match one band")
    return tuple(nearest)


def match_bands(model: Model, info) -> tuple[int, ...]:
    """The raster's 0-based bands that feed the model, in the model's order, or a one-line refusal.

    Matched by wavelength when the model and the raster both carry wavelengths (reordered or extra bands
    are fine), else by index, which needs the same band count as the training raster.
    """
    return match_band_record(_band_record(model), model.metadata.get("band_names"), info)


def match_band_record(record: dict, names, info) -> tuple[int, ...]:
    """:func:`match_bands` for a band record (``raster_count``, ``indices``, ``wavelengths``) and band names."""
    wanted = record.get("wavelengths")
    if wanted and info.wavelengths:
        return _match_by_wavelength(wanted, info.wavelengths)
    if info.count != int(record["raster_count"]):
        raise ModelFileError(
            f"the model was trained on {record['raster_count']} bands but the raster has {info.count}; "
            "classify a raster from the same sensor and band subset (or one whose bands carry wavelengths)")
    indices = tuple(int(i) for i in record["indices"])
    have = [info.band_names[i] for i in indices]
    generic = all(n.startswith("band ") for n in (names or [])) or all(n.startswith("band ") for n in have)
    if names and not generic and tuple(names) != tuple(have):
        raise ModelFileError("the raster's band names differ from the model's; it looks like another sensor or band order")
    return indices
