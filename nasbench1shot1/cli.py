"""`nb1s1`: the utility command line (benchmark files and builds, search-space facts, the
correlation study, the analysis of finished runs, moving run dirs of an earlier layout).

Every failure a user can cause ends in one sentence on stderr and exit status 1; argparse keeps
status 2 for malformed command lines.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from nasbench1shot1.conf.correlation import BN_MODES, CorrelationSettings
from nasbench1shot1.embedded import open_benchmark
from nasbench1shot1.nasbench import (
    OFFICIAL_FILES,
    NASBenchError,
    convert,
    describe,
    download,
)
from nasbench1shot1.spaces import get_search_space, list_spaces, unique_cells
from nasbench1shot1.spaces.regret import optimum


def _benchmark_download(args: argparse.Namespace) -> None:
    path = download(args.file, args.dest, progress=not args.quiet)
    print(f"{path} (SHA256 checked)")


def _benchmark_info(args: argparse.Namespace) -> None:
    benchmark = open_benchmark(args.path)
    info = describe(benchmark)
    if args.spread:
        from nasbench1shot1.builder import spread

        info["spread"] = spread(benchmark)
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print("\n".join(info_table(info)))


def info_table(info: dict) -> list[str]:
    """The lines `nb1s1 benchmark info` prints: `describe`'s facts (and `spread`'s) as a table."""
    epochs = info["epochs"]
    lines = [f"{'source':<22}{info['source'] or 'in memory'}",
             f"{'cache':<22}{info['cache'] or 'none'}",
             f"{'cells':<22}{info['cells']:,}",
             f"{'epoch budgets':<22}{', '.join(map(str, epochs))}",
             f"{'repeats':<22}{info['repeats']}",
             f"{'parameters known':<22}{info['trainable_parameters']:,} cells",
             "", "values present (cells x repeats) per epoch budget:",
             f"  {'metric':<30}" + "".join(f"{e:>10}" for e in epochs)]
    lines += [f"  {name:<30}" + "".join(f"{counts.get(e, 0):>10,}" for e in epochs)
              for name, counts in info["fields"].items()]
    spread = info.get("spread")
    if spread:
        lines += ["", f"spread at {spread['epochs']} epochs over {spread['cells']:,} cells "
                      "(mean test accuracy over repeats):"]
        lines += [f"  {which:<30}{spread[f'{which}_mean_test_accuracy']:>10.4f}"
                  for which in ("best", "median", "worst")]
        pairs = spread["spearman_between_repeats"]
        if pairs:
            lines += ["  Spearman of test accuracy between repeats:"]
            lines += [f"    repeats {pair:<21}{value:>10.4f}" for pair, value in pairs.items()]
            lines += [f"    {'mean':<29}{spread['mean_spearman_between_repeats']:>10.4f}"]
        else:
            lines += ["  Spearman between repeats: needs at least two repeats"]
    return lines


def _benchmark_convert(args: argparse.Namespace) -> None:
    print(convert(args.path, cache_dir=args.cache_dir, force=True, workers=2))


def _benchmark_merge(args: argparse.Namespace) -> None:
    from nasbench1shot1.builder import export, merge

    written = merge(args.folder, args.num_shards)
    print(written)
    if args.export is not None:
        print(export(written, args.export))


def _correlation(args: argparse.Namespace) -> None:
    from nasbench1shot1.checks import positive_int, seed_value
    from nasbench1shot1.correlation import correlation, correlation_over_seeds

    positive_int("--samples", args.samples)
    positive_int("--batches", args.batches)
    seed_value("--seed", args.seed)
    positive_int("--calibration-batches", args.calibration_batches)
    options = {"bn": args.bn, "calibration_batches": args.calibration_batches}
    samples = None if args.all else args.samples

    def fmt(value: float | None) -> str:
        return "undefined" if value is None else f"{value:.4f}"

    if len(args.run_dir) == 1:
        run_dir = args.run_dir[0]
        result = correlation(run_dir, samples, args.batches, args.seed, **options)
        others = ", ".join(f"{m} {fmt(c['spearman'])}" for m, c in result["by_bn"].items()
                           if m != result["bn"])
        print(f"{result['cells']} cells at epoch {result['epoch']}: Spearman "
              f"{fmt(result['spearman'])}, Kendall tau {fmt(result['kendall_tau'])} (BN "
              f"{result['bn']}; Spearman with BN {others}; chance "
              f"{result['chance_accuracy']:.2f}); {run_dir / 'correlation.json'}, "
              f"{run_dir / 'correlation.png'}")
        return
    summary = correlation_over_seeds(args.run_dir, samples, args.batches, args.seed,
                                     out=args.out, **options)
    for mode, c in summary["by_bn"].items():
        print(f"BN {mode}: Spearman {fmt(c['spearman']['mean'])} +- "
              f"{fmt(c['spearman']['std'])}, Kendall tau {fmt(c['kendall_tau']['mean'])} +- "
              f"{fmt(c['kendall_tau']['std'])}, mean score {fmt(c['mean_score']['mean'])} "
              f"over {summary['runs']} runs")


def _analyze(args: argparse.Namespace) -> None:
    from nasbench1shot1.analysis import analyze

    report = analyze(args.paths, args.out)
    counts = ", ".join(f"{n} {kind}" for kind, n in report["runs"].items())
    print(f"runs: {counts}")
    for path in report["written"]:
        print(f"wrote {path}")
    for what, why in report["skipped"]:
        print(f"skipped {what}: {why}")



def _runs_upgrade(args: argparse.Namespace) -> None:
    from nasbench1shot1.runfiles import runs_to_upgrade, upgrade_run_dir

    found = runs_to_upgrade(args.paths)
    if not found:
        print(f"no run of the earlier layout under {', '.join(map(str, args.paths))}")
    for seed_dir in found:
        print(f"moved the run in {seed_dir} to {upgrade_run_dir(seed_dir)}")


def space_info(number: int, benchmark_path: str | None = None) -> dict:
    """The facts `nb1s1 space info` prints: counts, and with a benchmark the space's optimum."""
    space = get_search_space(number)
    info: dict = {
        "space": space.number,
        "choice_blocks": space.num_choice_blocks,
        "parents": list(space.num_parents),
        "configs": space.num_configs,
        "unique_cells": len(unique_cells(space)),
        "unique_cells_without_loose_ends": len(unique_cells(space, loose_ends=False)),
        "best_test_error_mean": None,
        "best_test_error_single_run": None,
    }
    if benchmark_path is not None:
        best = optimum(space, open_benchmark(benchmark_path))
        info.update(
            best_test_error_mean=best.best_test_error_mean,
            best_test_error_single_run=best.best_test_error_single_run,
            best_cell_mean=best.best_cell_mean,
            best_cell_single_run=best.best_cell_single_run,
            epochs=best.epochs,
        )
    return info


def _space_info(args: argparse.Namespace) -> None:
    info = space_info(args.number, args.benchmark)
    if args.json:
        print(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        if value is not None:
            print(f"{key}: {value}")


def _parser() -> argparse.ArgumentParser:
    study = CorrelationSettings()
    parser = argparse.ArgumentParser(
        prog="nb1s1", description="NAS-Bench-1Shot1 utilities: benchmark files and search spaces."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    benchmark = commands.add_parser("benchmark", help="NAS-Bench-101 benchmark files")
    actions = benchmark.add_subparsers(dest="action", required=True)
    fetch = actions.add_parser("download", help="fetch an official file and check its SHA256")
    fetch.add_argument("--file", choices=sorted(OFFICIAL_FILES), default="only108",
                       help="which official file (default: only108, 0.5 GB; full is 2 GB)")
    fetch.add_argument("--dest", type=Path, default=Path("."), help="folder to write it to")
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(func=_benchmark_download)
    info = actions.add_parser("info", help="cells, epochs and repeats of a benchmark file")
    info.add_argument("path", help=".tfrecord, cache folder, .npz archive, or 'embedded'")
    info.add_argument("--json", action="store_true")
    info.add_argument("--spread", action="store_true",
                      help="also best/median/worst mean test accuracy, rank agreement of repeats")
    info.set_defaults(func=_benchmark_info)
    conv = actions.add_parser("convert", help="build the fast columnar cache of a .tfrecord")
    conv.add_argument("path")
    conv.add_argument("--cache-dir", type=Path, default=None,
                      help="where to write the cache (default: next to the file)")
    conv.set_defaults(func=_benchmark_convert)
    join = actions.add_parser("merge", help="join the finished shards of an nb1s1-build folder")
    join.add_argument("folder", type=Path)
    join.add_argument("--num-shards", type=int, default=None,
                      help="how many shards the build was split into (default: found)")
    join.add_argument("--export", type=Path, default=None,
                      help="also write a compressed .npz copy that NASBench opens")
    join.set_defaults(func=_benchmark_merge)

    space = commands.add_parser("space", help="NAS-Bench-1Shot1 search spaces")
    space_actions = space.add_subparsers(dest="action", required=True)
    sinfo = space_actions.add_parser("info", help="counts, and the optimum in a benchmark")
    sinfo.add_argument("number", type=int, choices=list_spaces())
    sinfo.add_argument("--benchmark", default=None,
                       help="benchmark file (or 'embedded') for the optimum")
    sinfo.add_argument("--json", action="store_true")
    sinfo.set_defaults(func=_space_info)
    corr = commands.add_parser(
        "correlation", help="one-shot scores of cells vs the benchmark, for a search run dir")
    corr.add_argument("run_dir", type=Path, nargs="+",
                      help="a search run dir; several (one method and space, other seeds): also "
                           "the mean and spread of the criteria over them")
    corr.add_argument("--samples", type=int, default=study.samples,
                      help=f"cells to score, sampled uniformly (default {study.samples})")
    corr.add_argument("--all", action="store_true", help="score every cell of the space")
    corr.add_argument("--batches", type=int, default=study.batches,
                      help=f"validation batches per cell (default {study.batches})")
    corr.add_argument("--seed", type=int, default=study.seed,
                      help="samples the cells and the batches")
    corr.add_argument("--bn", default=study.bn,
                      help=f"batch-norm statistics of each cell: {', '.join(BN_MODES)} (default "
                           f"{study.bn}); every mode is reported")
    corr.add_argument("--calibration-batches", type=int, default=study.calibration_batches,
                      help="batches of the weights half that recalibrate each cell (default "
                           f"{study.calibration_batches})")
    corr.add_argument("--out", type=Path, default=None,
                      help="with several run dirs: write the summary JSON here")
    corr.set_defaults(func=_correlation)
    ana = commands.add_parser(
        "analyze", help="figures and a summary table from search, black-box and BOHB run dirs")
    ana.add_argument("paths", type=Path, nargs="+",
                     help="run dirs, or folders holding them (searched recursively)")
    ana.add_argument("--out", type=Path, default=Path("outputs/analysis"),
                     help="where figures (PNG and PDF) and summary.md/.csv go "
                          "(default outputs/analysis)")
    ana.set_defaults(func=_analyze)
    runs = commands.add_parser("runs", help="run dirs")
    runs_actions = runs.add_subparsers(dest="action", required=True)
    upgrade = runs_actions.add_parser(
        "upgrade", help="move each run made before run dirs were siblings into its own folder")
    upgrade.add_argument("paths", type=Path, nargs="+",
                         help="run dirs, or folders holding them (searched recursively)")
    upgrade.set_defaults(func=_runs_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # warnings of the library (e.g. analyze's runs of different lengths) as one line each
    logging.basicConfig(level=logging.WARNING, format="nb1s1: %(levelname)s: %(message)s")
    try:
        args.func(args)
    except (NASBenchError, ValueError, OSError) as error:
        print(f"nb1s1: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nb1s1: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
