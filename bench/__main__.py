"""Run the benchmarks and print a Markdown report: `python -m bench [--only NAME] [--quick]`.

To add a benchmark, write a function `(Options) -> str` returning its Markdown section (a
`## Heading` and tables, see `bench.core.table`) and add it to `BENCHMARKS` under a name.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from bench import (
    backends_bench,
    fanout_bench,
    follow_bench,
    gaps_bench,
    interactions_bench,
    learning_bench,
    search_bench,
)
from bench.core import DEFAULT_SEED, Benchmark, Options, header

BENCHMARKS: dict[str, Benchmark] = {
    "search": search_bench.run,
    "interactions": interactions_bench.run,
    "fanout": fanout_bench.run,
    "gaps": gaps_bench.run,
    "learning": learning_bench.run,
    "follow": follow_bench.run,
    "backends": backends_bench.run,
}


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of sizes"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive whole numbers")
    return sizes


def parse(argv: Sequence[str] | None = None) -> tuple[list[str], Options]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable; one of: {', '.join(BENCHMARKS)})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and few samples (a smoke test)"
    )
    parser.add_argument("--sizes", type=_sizes, help="synthetic pack sizes to use, e.g. 1000,10000")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of synthetic data")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the largest size to stderr (slows it)"
    )
    args = parser.parse_args(argv)
    names = list(dict.fromkeys(args.only)) if args.only else list(BENCHMARKS)
    return names, Options(quick=args.quick, seed=args.seed, sizes=args.sizes, profile=args.profile)


def main(argv: Sequence[str] | None = None) -> int:
    names, options = parse(argv)
    print(header())
    if options.quick:
        print("- mode: --quick (small sizes, few samples: not figures to quote)")
    started = time.perf_counter()
    for name in names:
        print()
        print(BENCHMARKS[name](options), flush=True)
    print(f"\n_Benchmarks took {time.perf_counter() - started:.0f} s._")
    return 0


if __name__ == "__main__":
    sys.exit(main())
