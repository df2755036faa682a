"""One run of the suite on one backend: set up, time every operation, measure memory."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.database import BENCH_DATABASE, Target, open_target
from benchmarks.memory import MemoryUse, measure_memory
from benchmarks.operations import Operation, bind, build_operations
from benchmarks.peers import Peer, available_peers
from benchmarks.seed import seed
from benchmarks.timing import Call, Summary, alternate, summarize
from benchmarks.workload import Sizes

__all__ = ["OperationResult", "PeerResult", "SuiteResult", "run_suite"]

Progress = Callable[[str], None]
PEER_ORDER = ["asyncdata", "handwritten", "advanced_alchemy", "raw"]


@dataclass
class PeerResult:
    key: str
    label: str
    summary: Summary | None = None
    samples: list[float] = field(default_factory=list)
    missing: str = ""
    """Why there is no figure (the peer lacks the operation, or is not installed)."""


@dataclass
class OperationResult:
    key: str
    title: str
    note: str
    items: int
    limits: dict[str, float]
    peers: list[PeerResult]

    def peer(self, key: str) -> PeerResult | None:
        return next((p for p in self.peers if p.key == key), None)

    def ratio(self, key: str) -> float | None:
        """Median time of asyncdata / median time of peer ``key`` (below 1: asyncdata faster)."""
        mine, theirs = self.peer("asyncdata"), self.peer(key)
        if mine is None or theirs is None or mine.summary is None or theirs.summary is None:
            return None
        return mine.summary.median / theirs.summary.median


@dataclass
class SuiteResult:
    backend: str
    command: str
    started_at: str
    seconds: float
    machine: dict[str, Any]
    sizes: dict[str, Any]
    operations: list[OperationResult]
    memory: list[MemoryUse]


def machine_info(target: Target) -> dict[str, Any]:
    """Where the run happened: enough to compare two runs' tables."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    versions: dict[str, str | None] = {}
    for package in ("asyncdata", "sqlalchemy", "asyncpg", "aiosqlite", "advanced-alchemy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "server": f"{target.backend} {target.server_version}",
        "packages": versions,
    }


async def run_suite(
    backend: str,
    *,
    pg_url: str | None = None,
    sizes: Sizes | None = None,
    rounds: int | None = None,
    only: Collection[str] = (),
    memory: bool = True,
    database: str = BENCH_DATABASE,
    progress: Progress = lambda message: None,
) -> SuiteResult:
    """Time every operation (or those in ``only``) on ``backend``.

    ``rounds`` replaces every operation's default number of rounds; ``database`` is the
    name of the PostgreSQL database the run creates and drops.
    """
    sizes = sizes or Sizes()
    started, clock = datetime.now(UTC), time.perf_counter()
    async with open_target(backend, pg_url, database=database) as target:
        progress(f"{backend}: seeding {sizes.specialists:,} specialists and their rows")
        data = await seed(target, sizes)
        peers, missing = available_peers(target)
        operations = [
            op for op in build_operations(target, data, sizes) if not only or op.key in only
        ]
        results = []
        for operation in operations:
            begun = time.perf_counter()
            results.append(await _run_operation(operation, peers, missing, rounds, progress))
            progress(f"{operation.key}: done in {time.perf_counter() - begun:.1f} s")
        uses: list[MemoryUse] = []
        if memory and (not only or "create_many" in only):
            progress(f"create_many memory: {', '.join(f'{n:,}' for n in sizes.memory_rows)} rows")
            library = next(peer for peer in peers if peer.key == "asyncdata")
            uses = await measure_memory(library, target, data, sizes.memory_rows)
        info = machine_info(target)
    return SuiteResult(
        backend=backend,
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        started_at=started.isoformat(timespec="seconds"),
        seconds=time.perf_counter() - clock,
        machine=info,
        sizes=sizes.as_dict(),
        operations=results,
        memory=uses,
    )


async def _run_operation(
    operation: Operation,
    peers: list[Peer],
    missing: dict[str, str],
    rounds: int | None,
    progress: Progress,
) -> OperationResult:
    calls: dict[str, Call] = {}
    results = []
    for peer in peers:
        call = bind(operation, peer)
        if call is None:
            results.append(PeerResult(peer.key, peer.label, missing="no such operation"))
        else:
            calls[peer.key] = call
            results.append(PeerResult(peer.key, peer.label))
    results += [PeerResult(key, key.replace("_", "-"), missing=why) for key, why in missing.items()]
    results.sort(key=lambda result: PEER_ORDER.index(result.key))
    count = rounds if rounds is not None else operation.rounds
    progress(f"{operation.key}: {count} rounds x {operation.calls} calls x {len(calls)} peers")
    samples = await alternate(
        calls,
        operation.arguments,
        rounds=count,
        calls=operation.calls,
        items=operation.items,
        reset=operation.reset,
    )
    if operation.finish is not None:
        await operation.finish()
    for result in results:
        if result.key in samples:
            result.samples = samples[result.key]
            result.summary = summarize(result.samples, operation.calls)
    return OperationResult(
        operation.key, operation.title, operation.note, operation.items, operation.limits, results
    )
