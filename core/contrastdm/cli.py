"""Command-line interface: a thin layer over the Python API (see docs/cli.md)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import traceback
from pathlib import Path

from . import choices
from .errors import Cancelled, ContrastDMError, InputError
from .feedback import ConsoleFeedback, JsonlFeedback, NullFeedback
from .io.gdal_env import gdal_settings, use_system_proj_data
from .version import __version__

DEVICE_HELP = f"{', '.join(choices.DEVICES[:-1])} or {choices.DEVICES[-1]} (cuda:N for one GPU of several)"


def _common(parser: argparse.ArgumentParser, top: bool = False) -> None:
    # Accepted before and after the command name; the later one wins.
    default = "bar" if top else argparse.SUPPRESS
    parser.add_argument("--progress", choices=choices.PROGRESS, default=default,
                        help="progress display: bar (stderr), jsonl (machine-readable, stdout) or none")
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="show full tracebacks on errors")
    parser.add_argument("--log-file", default=None if top else argparse.SUPPRESS,
                        help="append messages and error details to this file")
    parser.add_argument("--threads", type=int, default=None if top else argparse.SUPPRESS,
                        help="CPU threads (default: OMP_NUM_THREADS, else this process's share of the cores)")


def _bool_flag(parser, name: str, help_text: str) -> None:
    parser.add_argument(f"--{name}", dest=name.replace("-", "_"), action=argparse.BooleanOptionalAction,
                        default=None, help=help_text)


def _pixels_or_auto(what: str):
    def parse(value: str):
        if value.strip().lower() == "auto":
            return "auto"
        try:
            return int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} or 'auto', not '{value}'") from None
    return parse


def _training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raster", required=True, help="hyperspectral raster (any GDAL format)")
    parser.add_argument("--vector", required=True, help="training polygons or points (GeoPackage, Shapefile, ...)")
    parser.add_argument("--class-field", required=True, help="field of the training vector holding the class")
    parser.add_argument("--model", required=True, help="model file to write (.safetensors)")
    parser.add_argument("--validation-vector", help="polygons used only to choose the model (optional)")
    parser.add_argument("--validation-class-field", help="class field of the validation vector (default: --class-field)")
    parser.add_argument("--unlabelled-raster", action="append", default=[], metavar="RASTER",
                        help="another scene of the same sensor for contrastive pre-training (repeatable)")
    parser.add_argument("--unlabelled-list", metavar="FILE",
                        help="a text file of such scenes, one path per line (# starts a comment)")
    group = parser.add_argument_group("training options (default: the preset's)")
    group.add_argument("--preset", choices=choices.PRESETS, default=choices.DEFAULT_PRESET)
    group.add_argument("--patch-size", type=_pixels_or_auto("an odd number of pixels"), metavar="N|auto",
                       help="odd patch side in pixels, or auto: 5, 7 or 11 (or the preset's), chosen by short "
                            "probes on held-out training polygons")
    _preprocess_arguments(group)
    group.add_argument("--feature-dim", type=int)
    group.add_argument("--contrastive-epochs", type=int)
    group.add_argument("--diffusion-steps", type=int)
    group.add_argument("--finetune-epochs", type=int)
    _bool_flag(group, "synthetic", "add diffusion-generated features for scarce classes")
    _bool_flag(group, "refine", "refine features with the diffusion model at inference")
    _bool_flag(group, "warm-start", "start from the last network trained on this raster with the same settings and "
                                    "classes (scene cache) and run a fifth of the schedule: retraining after "
                                    "editing polygons")
    group.add_argument("--budget", choices=choices.BUDGETS,
                       help="schedules as set (fixed) or fitted to the data: pre-training passes over the "
                            "label-free patches about once, fine-tuning trains once on every label")
    group.add_argument("--smoothing-radius", type=_pixels_or_auto("a number of pixels"), metavar="N|auto",
                       help="edge-preserving smoothing of the probabilities, saved with the model: auto (the "
                            "default) takes the preset's radius (5 px), lowered to the distance up to which "
                            "neighbouring pixels of the scene stay alike; a number is the radius in pixels as it is "
                            "(0: off)")
    group.add_argument("--spectral-member", choices=choices.SPECTRAL_MEMBER,
                       help="average a per-pixel spectral MLP into the probabilities (auto: only where the training "
                            "pixels form areas, e.g. polygons, not scattered points)")
    group.add_argument("--class-colors", help='JSON object of class -> "#rrggbb"')
    group.add_argument("--batch-size", type=int)
    group.add_argument("--seed", type=int)
    group.add_argument("--device", default=choices.DEFAULT_DEVICE, help=DEVICE_HELP)
    group.add_argument("--cpu-precision", choices=choices.PRECISIONS,
                       help="training's precision on a CPU: float32 (the default, exact), bfloat16 (convolutions and "
                            "matrix products in bfloat16), or auto (bfloat16 where the processor computes it "
                            "natively, AVX512-BF16 or AMX; float32 elsewhere); run classifies in it too. A GPU "
                            "trains in mixed precision")
    group.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                       help="any other learner setting, e.g. --set temperature=0.1 (repeatable)")


def _map_precision_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpu-precision", choices=choices.PRECISIONS, default=choices.DEFAULT_PRECISION,
                        help="the network's precision: float32 (the default, exact), bfloat16 (about a fifth less "
                             "time where the CPU computes it natively; labels agree with float32's on at least "
                             "99.9%% of the pixels), or auto (bfloat16 on such a CPU, float32 elsewhere)")


def _cache_options(parser: argparse.ArgumentParser, off_switch: bool = True) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--cache-dir", metavar="DIR",
                       help="scene cache folder: the label-free preprocessing of a raster is kept there and reused "
                            "(default: $CONTRASTDM_CACHE_DIR/scenes, else $XDG_CACHE_HOME/contrastdm/scenes, else "
                            "~/.cache/contrastdm/scenes)")
    if off_switch:
        group.add_argument("--no-cache", action="store_true", help="neither read nor write the scene cache")


def _preprocess_arguments(group) -> None:
    """The settings the label-free preprocessing depends on besides the seed (train, run and prepare)."""
    group.add_argument("--pca-components", type=int, default=30,
                       help="components the spectral reduction keeps (0: no reduction)")
    group.add_argument("--reduction", choices=choices.REDUCTIONS, default=choices.DEFAULT_REDUCTION,
                       help="spectral reduction: principal components, or minimum noise fraction (noise-whitened)")
    group.add_argument("--bands", help='keep only these bands: band numbers "1-50,60" or wavelengths "400-1300nm" '
                                        "(default: every band not found bad)")
    group.add_argument("--drop-bands", help='drop these bands as well: band numbers "104-108" or wavelengths '
                                             '"1340-1460nm"')


def _scene_options(parser: argparse.ArgumentParser, seed: bool = False) -> None:
    group = parser.add_argument_group("preprocessing options (the same defaults as train)")
    _preprocess_arguments(group)
    if seed:
        group.add_argument("--seed", type=int, help="random seed of the pixel sample (default: training's, 0)")


def _cache_arg(args):
    """The ``cache`` argument of the Python API from --cache-dir / --no-cache."""
    if getattr(args, "no_cache", False):
        return None
    if args.cache_dir is not None and not args.cache_dir.strip():
        raise ContrastDMError("--cache-dir: give a folder")
    return args.cache_dir or "default"


def build_parser() -> argparse.ArgumentParser:
    """Every command and its options (a declaration, long because the commands are many)."""
    common = argparse.ArgumentParser(add_help=False)
    _common(common)
    parser = argparse.ArgumentParser(
        prog="contrastdm", description="Hyperspectral image classification with ContrastDM.")
    parser.add_argument("--version", action="version", version=f"contrastdm {__version__}")
    _common(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("train", parents=[common], help="train a model from a raster and training polygons")
    _training_options(p)
    _cache_options(p)
    p.add_argument("--report", help="HTML training report to write (a .json is written next to it)")

    p = commands.add_parser("classify", parents=[common], help="classify a raster (or a list of them) with a model")
    p.add_argument("--raster", help="the raster to classify (or --raster-list)")
    p.add_argument("--raster-list", help="a text file naming one raster per line, all classified with the model "
                   "into --output-dir (shared among the ranks under torchrun)")
    p.add_argument("--model", required=True)
    p.add_argument("--output", help="class map GeoTIFF to write (with --raster)")
    p.add_argument("--output-dir", help="folder for <name>_classes.tif and <name>_confidence.tif of each raster "
                   "(with --raster-list)")
    p.add_argument("--confidence", help="confidence GeoTIFF to write (max class probability)")
    p.add_argument("--probabilities", help="per-class probability GeoTIFF to write")
    p.add_argument("--tile-size", type=int, default=256)
    p.add_argument("--cog", action="store_true", help="write Cloud-Optimized GeoTIFFs (with overviews)")
    p.add_argument("--smoothing-radius", type=int,
                   help="edge-preserving smoothing of the probabilities, radius in pixels (0: off; default: the model's)")
    p.add_argument("--device", default=choices.DEFAULT_DEVICE, help=DEVICE_HELP)
    _map_precision_option(p)

    p = commands.add_parser("evaluate", parents=[common], help="accuracy of a class map against reference polygons")
    p.add_argument("--map", required=True)
    p.add_argument("--vector", required=True)
    p.add_argument("--class-field", required=True)
    p.add_argument("--report", help="HTML report to write (a .json is written next to it)")

    p = commands.add_parser("run", parents=[common], help="train, classify and evaluate in one go")
    _training_options(p)
    p.add_argument("--output", required=True, help="class map GeoTIFF to write")
    p.add_argument("--confidence")
    p.add_argument("--probabilities")
    p.add_argument("--test-vector", help="reference polygons for the accuracy report")
    p.add_argument("--test-class-field")
    p.add_argument("--report")
    p.add_argument("--tile-size", type=int, default=256)
    p.add_argument("--cog", action="store_true", help="write Cloud-Optimized GeoTIFFs (with overviews)")
    _cache_options(p)

    p = commands.add_parser("prepare", parents=[common],
                            help="fill the scene cache with a raster's preprocessing, so training on it starts sooner")
    p.add_argument("--raster", required=True, help="hyperspectral raster (any GDAL format)")
    _scene_options(p, seed=True)
    _cache_options(p, off_switch=False)

    p = commands.add_parser("cache", parents=[common], help="list or clear the scene cache")
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="list the entries, least recently used first")
    action.add_argument("--clear", action="store_true", help="delete every entry")
    _cache_options(p, off_switch=False)

    p = commands.add_parser("suggest", parents=[common],
                            help="suggest where to label next: points where the model is least sure")
    p.add_argument("--raster", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--output", required=True, help="GeoPackage of points to write (.gpkg)")
    p.add_argument("--count", type=int, default=20, help="number of sites (default 20)")
    p.add_argument("--min-distance", type=float, metavar="PIXELS",
                   help="least distance between two sites (default: the larger of 10 and the model's patch size)")
    p.add_argument("--area-radius", type=int, default=None, metavar="PIXELS",
                   help="sites only where the map shows one class this many pixels around, inside areas that can "
                        "be drawn on, not on mixed boundaries (default 1; 0: anywhere)")
    p.add_argument("--tile-size", type=int, default=256)
    p.add_argument("--smoothing-radius", type=int,
                   help="edge-preserving smoothing of the probabilities, radius in pixels (0: off; default: the model's)")
    p.add_argument("--device", default=choices.DEFAULT_DEVICE, help=DEVICE_HELP)
    _map_precision_option(p)

    p = commands.add_parser("import", parents=[common],
                            help="convert a sensor product (EnMAP L2A, EMIT L2A, PRISMA L2D) into a GeoTIFF")
    p.add_argument("--product", required=True, help="the product as downloaded (file or folder)")
    p.add_argument("--output", required=True, help="GeoTIFF to write, with wavelengths in its band metadata")

    p = commands.add_parser("info", parents=[common], help="print a model file's metadata as JSON")
    p.add_argument("--model", required=True)

    commands.add_parser("doctor", parents=[common], help="print the engine's environment and device as JSON")

    p = commands.add_parser("dataset", parents=[common], help="prepare a benchmark scene as GeoTIFF + GeoPackages")
    p.add_argument("name", choices=("indian-pines",))
    p.add_argument("--output-dir", required=True)
    p.add_argument("--source", help="folder holding the scene's original files")
    p.add_argument("--patch-size", type=int, default=11, help="patch size the validation gap is made for")
    p.add_argument("--seed", type=int, default=0)

    return parser


def _train_kwargs(args) -> dict:
    colors = None
    if args.class_colors:
        try:
            colors = json.loads(args.class_colors)
            assert isinstance(colors, dict)
        except (ValueError, AssertionError) as exc:
            raise ContrastDMError('--class-colors must be a JSON object such as {"Corn": "#ffcc00"}') from exc
    extra = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ContrastDMError(f"--set takes NAME=VALUE, not '{item}'")
        extra[name.strip().replace("-", "_")] = _parse_value(value.strip())
    options = dict(validation_vector=args.validation_vector, validation_class_field=args.validation_class_field,
                preset=args.preset, pca_components=args.pca_components or None, reduction=args.reduction,
                bands=args.bands, drop_bands=args.drop_bands, class_colors=colors,
                device=args.device, cpu_precision=args.cpu_precision, feature_dim=args.feature_dim,
                **({"choose_patch_size": True} if args.patch_size == "auto" else {"patch_size": args.patch_size}),
                contrastive_epochs=args.contrastive_epochs, diffusion_steps=args.diffusion_steps,
                finetune_epochs=args.finetune_epochs, synthetic=args.synthetic, refine=args.refine,
                warm_start=args.warm_start, budget=args.budget,
                **_smoothing_options(args.smoothing_radius),
                spectral_member=args.spectral_member, batch_size=args.batch_size, seed=args.seed, cache=_cache_arg(args),
                unlabelled_rasters=args.unlabelled_raster + _raster_list(args.unlabelled_list))
    for name, value in extra.items():
        if options.get(name) is not None:
            raise ContrastDMError(f"'{name}' is given both as an option and with --set")
        options[name] = value
    return options


def _smoothing_options(radius) -> dict:
    """``--smoothing-radius``: auto (the default) lowers the preset's radius to the scene's scale; a number is
    used as it is."""
    if radius is None:
        return {}
    if radius == "auto":
        return {"smoothing_from_scene": True}
    return {"smoothing_radius": radius, "smoothing_from_scene": False}


def _raster_list(path) -> list[str]:
    """The paths in a ``--unlabelled-list`` file (blank lines and # comments skipped)."""
    if not path:
        return []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ContrastDMError(f"--unlabelled-list: cannot read {path}: {exc.strerror or exc}") from exc
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _parse_value(text: str):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _metrics_line(metrics: dict | None) -> str:
    if not metrics:
        return ""
    return (f"OA {metrics['overall_accuracy']:.2f}  AA {metrics['average_accuracy']:.2f}  "
            f"kappa {metrics['kappa']:.4f}")


def _execute(args, feedback) -> dict:
    """Run one command; returns the result event (printed as JSON or as text)."""
    if args.command not in COMMANDS:
        raise ContrastDMError(f"unknown command {args.command}")
    return COMMANDS[args.command](args, feedback)


# One short function per command, each a call into the engine's job functions; torch is imported only by the
# commands that need it.
def _train_command(args, feedback) -> dict:
    from .train import train

    result = train(args.raster, args.vector, args.class_field, args.model, report=args.report,
                   feedback=feedback, **_train_kwargs(args))
    return {"outputs": {"model": result.model_path, "report": result.report_path},
            "metrics": {"validation": result.validation}, "seconds": round(result.seconds, 1),
            "device": result.device}


def _classify_command(args, feedback) -> dict:
    if args.raster_list or args.output_dir:
        return _classify_list(args, feedback)
    from .classify import classify

    if not (args.raster and args.output):
        raise InputError("classify needs --raster and --output (or --raster-list and --output-dir)")
    result = classify(args.raster, args.model, args.output, confidence=args.confidence,
                      probabilities=args.probabilities, tile_size=args.tile_size, device=args.device,
                      smoothing_radius=args.smoothing_radius, cog=args.cog, precision=args.cpu_precision,
                      feedback=feedback)
    return {"outputs": {"map": result.map_path, "confidence": result.confidence_path,
                        "probabilities": result.probabilities_path},
            "metrics": {"pixels": result.pixels, "pixels_per_second": round(result.pixels_per_second),
                        "pixels_per_class": result.class_counts},
            "seconds": round(result.seconds, 2), "device": result.device}


def _evaluate_command(args, feedback) -> dict:
    from .evaluate import evaluate

    metrics = evaluate(args.map, args.vector, args.class_field, args.report, feedback=feedback)
    return {"outputs": {"report": args.report}, "metrics": metrics}


def _run_command(args, feedback) -> dict:
    from .pipeline import run

    result = run(args.raster, args.vector, args.class_field, args.model, args.output,
                 confidence=args.confidence, probabilities=args.probabilities, test_vector=args.test_vector,
                 test_class_field=args.test_class_field, report=args.report, tile_size=args.tile_size,
                 cog=args.cog, feedback=feedback, **_train_kwargs(args))
    c = result.classification
    return {"outputs": {"model": result.training.model_path, "map": c.map_path, "confidence": c.confidence_path,
                        "probabilities": c.probabilities_path, "report": result.report_path},
            "metrics": result.metrics or {}, "seconds": round(result.seconds, 1), "device": c.device,
            "train_seconds": round(result.training.seconds, 1), "classify_seconds": round(c.seconds, 2)}


def _prepare_command(args, feedback) -> dict:
    from .prepare import prepare

    result = prepare(args.raster, pca_components=args.pca_components or None, reduction=args.reduction,
                     bands=args.bands, drop_bands=args.drop_bands, seed=args.seed, cache=_cache_arg(args),
                     feedback=feedback)
    return {"outputs": {"cache_entry": result.entry},
            "metrics": {"cache": result.status, "bands": result.bands, "kept_bands": result.kept_bands,
                        "features": result.features},
            "cache_dir": result.cache_dir, "seconds": round(result.seconds, 2)}


def _suggest_command(args, feedback) -> dict:
    from .suggest import suggest_sites

    result = suggest_sites(args.raster, args.model, args.output, count=args.count, min_distance=args.min_distance,
                           tile_size=args.tile_size, smoothing_radius=args.smoothing_radius, device=args.device,
                           precision=args.cpu_precision, feedback=feedback, **({} if args.area_radius is None else
                                                 {"area_radius": args.area_radius}))
    return {"outputs": {"sites": result.path},
            "metrics": {"sites": result.sites, "min_distance": result.min_distance,
                        "sites_per_class": result.sites_per_class},
            "classes": result.classes, "seconds": round(result.seconds, 2), "device": result.device}


def _import_command(args, feedback) -> dict:
    from .io.products import convert

    feedback.progress("import", 0.0, f"reading {args.product}")
    output = convert(args.product, args.output)
    feedback.progress("import", 1.0, str(output))
    return {"outputs": {"raster": str(output)}}


def _info_command(args, feedback) -> dict:
    from .bundle import read_metadata

    return {"metadata": read_metadata(args.model)}


def _doctor_command(args, feedback) -> dict:
    from .device import environment

    return {"environment": environment()}


def _dataset_command(args, feedback) -> dict:
    from .datasets import prepare_indian_pines

    paths = prepare_indian_pines(args.output_dir, source=args.source, patch_size=args.patch_size,
                                 seed=args.seed, feedback=feedback)
    return {"outputs": {k: str(v) for k, v in paths.items()}}


def _cache_command(args, feedback=None) -> dict:
    from .prepare import open_cache

    store = open_cache(_cache_arg(args))
    if args.clear:
        return {"cache_dir": str(store.directory), "removed": store.clear()}
    entries = [{"path": str(e.path), "bytes": e.size, "last_used": round(e.last_used, 3), "stage": e.stage,
                "fingerprint": e.fingerprint, "settings": e.settings, "engine_version": e.engine_version}
               for e in store.entries()]
    return {"cache_dir": str(store.directory), "entries": entries, "total_bytes": sum(e["bytes"] for e in entries)}


def _print_cache(result: dict) -> None:
    import time

    if "removed" in result:
        print(f"removed {result['removed']} entr{'y' if result['removed'] == 1 else 'ies'} from {result['cache_dir']}")
        return
    count = len(result["entries"])
    print(f"scene cache    {result['cache_dir']}: {count} entr{'y' if count == 1 else 'ies'}, "
          f"{result['total_bytes'] / 1024**2:.1f} MB")
    for e in result["entries"]:
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["last_used"]))
        stage = e["stage"] or "(unreadable)"
        raster = (e["fingerprint"] or "?")[:12]
        print(f"  {stage:<12} {e['bytes'] / 1024:>9.1f} KB  used {used}  raster {raster}  {e['path']}")


def _print_human(command: str, result: dict) -> None:
    if command in ("info", "doctor"):
        print(json.dumps(next(iter(result.values())), indent=2, default=str))
        return
    if command == "cache":
        _print_cache(result)
        return
    for name, path in result.get("outputs", {}).items():
        if path:
            print(f"{name:<14} {path}")
    metrics = result.get("metrics") or {}
    if command == "train" and metrics.get("validation"):
        print(f"validation     {json.dumps(metrics['validation'], default=str)}")
    if "overall_accuracy" in metrics:
        print(f"accuracy       {_metrics_line(metrics)}")
    if command == "classify":
        print(f"speed          {metrics['pixels_per_second']} pixels/s on {result['device']}")
    if command == "prepare":
        print(f"scene cache    {'already held' if metrics['cache'] == 'hit' else 'filled'}: {metrics['kept_bands']} "
              f"of {metrics['bands']} bands kept, {metrics['features']} features")
    if "seconds" in result:
        print(f"time           {result['seconds']} s")


def _classify_list(args, feedback) -> dict:
    from .batch import classify_many, read_raster_list

    if args.raster or args.output or not (args.raster_list and args.output_dir):
        raise InputError("a list of rasters needs --raster-list and --output-dir (not --raster or --output)")
    if args.probabilities or args.confidence:
        raise InputError("with --raster-list each raster gets <name>_confidence.tif; --confidence and "
                         "--probabilities name one file and do not apply")
    result = classify_many(read_raster_list(args.raster_list), args.model, args.output_dir,
                           tile_size=args.tile_size, device=args.device, smoothing_radius=args.smoothing_radius,
                           cog=args.cog, precision=args.cpu_precision, feedback=feedback)
    return {"outputs": {"folder": args.output_dir},
            "metrics": {"rasters": len(result.outputs), "ranks": result.ranks, "pixels": result.pixels,
                        "pixels_per_second": round(result.pixels / max(result.seconds, 1e-9)),
                        "maps": result.outputs},
            "seconds": round(result.seconds, 2), "device": result.device}


COMMANDS = {"train": _train_command, "classify": _classify_command, "evaluate": _evaluate_command,
            "run": _run_command, "prepare": _prepare_command, "cache": _cache_command, "suggest": _suggest_command,
            "import": _import_command, "info": _info_command, "doctor": _doctor_command,
            "dataset": _dataset_command}


def _install_signal_handlers(feedback) -> None:
    def handler(signum, frame):
        if feedback.cancelled() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        # Only set the flag: the handler may interrupt the main thread while it holds the output lock, and
        # writing from here could deadlock. The job reports the cancellation when it stops.
        feedback.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread, or unsupported on this platform
            pass


def _log(path, text: str) -> None:
    if path:
        try:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text.rstrip() + "\n")
        except OSError:
            pass


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.progress == "jsonl":
        feedback = JsonlFeedback(sys.stdout)
    elif args.progress == "none":
        feedback = NullFeedback()
    else:
        feedback = ConsoleFeedback(sys.stderr)
    _install_signal_handlers(feedback)
    use_system_proj_data()  # the engine's own process: the environment is ours to set
    if args.threads is not None:
        if args.threads < 1:
            return _fail(args, feedback, ContrastDMError("--threads must be 1 or more"), "InputError", 1)
        os.environ["CONTRASTDM_THREADS"] = str(args.threads)
    try:
        with gdal_settings():
            result = _execute(args, feedback)
        if _other_rank():  # under torchrun, rank 0 reports the job
            return 0
    except Cancelled as exc:
        return _fail(args, feedback, exc, "Cancelled", exc.exit_code)
    except KeyboardInterrupt:
        return _fail(args, feedback, Cancelled(), "Cancelled", 130)
    except ContrastDMError as exc:
        return _fail(args, feedback, exc, type(exc).__name__, exc.exit_code)
    except MemoryError as exc:
        error = ContrastDMError("out of memory; use a smaller --tile-size or --batch-size, or fewer training pixels")
        return _fail(args, feedback, error, "MemoryError", 1, exc)
    except Exception as exc:  # a bug: one line for the user, the traceback with --debug or in the log
        if _is_cuda_oom(exc):
            error = ContrastDMError("the GPU ran out of memory; use a smaller --batch-size or --device cpu")
            return _fail(args, feedback, error, "OutOfMemory", 1, exc)
        error = ContrastDMError(f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                                " (run with --debug for details)")
        return _fail(args, feedback, error, "InternalError", 3, exc)
    if args.progress == "jsonl":
        feedback.emit({"type": "result", "command": args.command, **result})
    else:
        _print_human(args.command, result)
    return 0


def _is_cuda_oom(exc: Exception) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "CUDA out of memory" in str(exc)


def _other_rank() -> bool:
    """A torchrun rank other than 0 (torch is not imported for commands that do not need it)."""
    if "torch.distributed" not in sys.modules:
        return False
    from .distributed import current

    return not current().is_main


def _fail(args, feedback, error: Exception, kind: str, code: int, cause: BaseException | None = None) -> int:
    message = str(error).splitlines()[0] if str(error) else kind
    if _other_rank():
        if kind not in ("InternalError", "OutOfMemory", "MemoryError"):
            return code  # every rank read the same inputs: rank 0 gives the one message
        message = f"rank {os.environ.get('RANK', '?')}: {message}"
    detail = "".join(traceback.format_exception(cause or error))
    _log(args.log_file, detail)
    if args.debug:
        sys.stderr.write(detail)
    if args.progress == "jsonl":
        feedback.emit({"type": "error", "kind": kind, "message": message})
    sys.stderr.write(f"contrastdm: error: {message}\n")
    sys.stderr.flush()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
