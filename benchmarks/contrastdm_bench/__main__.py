"""``python -m contrastdm_bench`` (from ``benchmarks/``, or with it on ``PYTHONPATH``): run what is missing, then
regenerate the table and plots. Resumable: stop it at any time and start it again."""

from __future__ import annotations

import argparse
import sys

from contrastdm import choices
from contrastdm.errors import ContrastDMError
from contrastdm.feedback import ConsoleFeedback
from contrastdm.io.gdal_env import gdal_settings, use_system_proj_data

from .data import DATASETS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="contrastdm_bench", description=__doc__)
    p.add_argument("--output-dir", required=True)
    p.add_argument("--quick", action="store_true", help="one seed, short schedules: a smoke run of the harness")
    p.add_argument("--methods", help="comma-separated methods (default: every one)")
    p.add_argument("--protocols", help="comma-separated protocols (default: every one)")
    p.add_argument("--seeds", help="comma-separated seeds (default: 0,1,2,3,4; --quick: 0)")
    p.add_argument("--dataset", default="indian-pines", help=f"one of {', '.join(DATASETS)}")
    p.add_argument("--data-dir", help="folder holding the dataset's .mat files (Pavia University, Salinas)")
    p.add_argument("--patch-size", type=int, default=11)
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: every core, 1 on a busy machine)")
    p.add_argument("--no-plots", action="store_true", help="skip the plots")
    p.add_argument("--device", default=choices.DEFAULT_DEVICE, help="auto, cpu, cuda, cuda:N or mps")
    return p


def main(argv=None) -> int:
    from .runner import run_benchmark

    args = build_parser().parse_args(argv)
    feedback = ConsoleFeedback(sys.stderr)
    use_system_proj_data()
    try:
        with gdal_settings():
            result = run_benchmark(args.output_dir, datasets=args.dataset, methods=args.methods,
                                   protocols=args.protocols, seeds=args.seeds, quick=args.quick, device=args.device,
                                   data_dir=args.data_dir, patch_size=args.patch_size, threads=args.threads,
                                   plots=not args.no_plots, feedback=feedback)
    except KeyboardInterrupt:
        print("contrastdm_bench: stopped; run the same command to continue", file=sys.stderr)
        return 130
    except ContrastDMError as exc:
        print(f"contrastdm_bench: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return exc.exit_code
    metrics = result["metrics"]
    print(f"ran {metrics['ran']}, skipped {metrics['skipped']} (done before), failed {len(metrics['failed'])}; "
          f"table: {result['outputs']['table']} ({result['seconds']} s)")
    return 1 if metrics["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
