"""``python -m benchmarks --backend sqlite|postgresql [--rounds N] [--json PATH]``.

``--scale [--million] [--sizes 10000,100000]``: bounded reads at growing table sizes.
Also ``--only get_by_id,update`` (a subset), ``--smoke`` (a few rows, to check the
machinery) and ``--profile OPERATION [--calls N]`` (where asyncdata's extra time goes).
``--replicas [--rounds N]`` instead measures read replicas and PgBouncer on servers of its
own (``benchmarks/scaling.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from benchmarks.profiling import profile_operation
from benchmarks.report import render, write_json
from benchmarks.scale import DEFAULT_SIZES, MILLION
from benchmarks.scale import main as scale_main
from benchmarks.suite import run_suite
from benchmarks.workload import SMOKE_SIZES, Sizes
from benchmarks.writes import compare_load, index_cost, one_specialist

RESULTS = Path(__file__).parent / "results"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time asyncdata against hand-written SQLAlchemy, advanced-alchemy and the "
        "raw driver, in alternating rounds; print the table and write it as JSON.",
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"))
    parser.add_argument(
        "--replicas",
        action="store_true",
        help="instead: slot reads on the primary alone vs primary + 1 replica, and booking "
        "races through PgBouncer, on servers it starts and removes (needs root or postgres)",
    )
    parser.add_argument(
        "--url",
        default=os.environ.get("TEST_PG_URL"),
        help="PostgreSQL server URL (default: $TEST_PG_URL); the run creates and drops its own "
        "database, asyncdata_bench, on that server",
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of every operation (default: each operation's own)"
    )
    parser.add_argument(
        "--only", help="comma-separated operations to run, e.g. get_by_id,create_many"
    )
    parser.add_argument(
        "--profile",
        metavar="OPERATION",
        help="instead of timing, profile one operation: asyncdata beside hand-written, by function",
    )
    parser.add_argument("--calls", type=int, help="profiled calls per peer (with --profile)")
    parser.add_argument(
        "--smoke", action="store_true", help="a few rows of everything: checks the machinery only"
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="instead: load 10k and 100k rows per table through create_many and time the "
        "bounded reads at each size, with the growth ratio",
    )
    parser.add_argument(
        "--load",
        type=int,
        metavar="ROWS",
        help="instead (PostgreSQL): create_many of ROWS bookings against asyncpg executemany "
        "and COPY of the same rows",
    )
    parser.add_argument(
        "--one-specialist",
        action="store_true",
        help="instead: create_many of 10k and of 20k bookings of one specialist, and the ratio",
    )
    parser.add_argument(
        "--index-cost",
        action="store_true",
        help="instead: create and create_many into a schema with revision 0004's indexes "
        "and one without, alternating",
    )
    parser.add_argument(
        "--million", action="store_true", help="with --scale: add 1M rows (takes a while)"
    )
    parser.add_argument(
        "--sizes", help="with --scale: comma-separated row counts instead, e.g. 1000,5000"
    )
    parser.add_argument(
        "--json",
        type=Path,
        help="where to write the JSON (default: benchmarks/results/BACKEND.json)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.replicas:
        from benchmarks.scaling import run_scaling

        print(run_scaling(args.rounds or 5))
        return 0
    if args.backend is None:
        print("--backend sqlite|postgresql is needed (or --replicas)", file=sys.stderr)
        return 2
    if args.backend == "postgresql" and not args.url:
        print("PostgreSQL needs a server URL: set TEST_PG_URL or pass --url", file=sys.stderr)
        return 2
    if args.index_cost:
        report = index_cost(
            args.backend, args.url, lambda m: print(f"… {m}", file=sys.stderr, flush=True)
        )
        print(asyncio.run(report))
        return 0
    if args.one_specialist:
        report = one_specialist(
            args.backend, args.url, lambda m: print(f"… {m}", file=sys.stderr, flush=True)
        )
        print(asyncio.run(report))
        return 0
    if args.load:
        report = compare_load(
            args.url, args.load, lambda m: print(f"… {m}", file=sys.stderr, flush=True)
        )
        print(asyncio.run(report))
        return 0
    if args.scale:
        sizes = (
            tuple(int(n) for n in args.sizes.split(","))
            if args.sizes
            else DEFAULT_SIZES + ((MILLION,) if args.million else ())
        )
        return scale_main(args.backend, args.url, sizes)
    if args.profile:
        report = profile_operation(args.backend, args.profile, pg_url=args.url, calls=args.calls)
        print(asyncio.run(report))
        return 0
    result = asyncio.run(
        run_suite(
            args.backend,
            pg_url=args.url,
            sizes=SMOKE_SIZES if args.smoke else Sizes(),
            rounds=args.rounds,
            only={name.strip() for name in args.only.split(",")} if args.only else (),
            progress=lambda message: print(f"… {message}", file=sys.stderr, flush=True),
        )
    )
    print(render(result))
    path = args.json or RESULTS / f"{args.backend}.json"
    write_json(result, path)
    print(f"\nJSON written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
