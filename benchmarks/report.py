"""The printed table, the PASS/MISS verdicts on the issue's targets, and the JSON file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks.memory import MEMORY_GROWTH_LIMIT, growth
from benchmarks.suite import OperationResult, PeerResult, SuiteResult

__all__ = ["Verdict", "render", "to_json", "verdicts", "write_json"]

Verdict = dict[str, Any]


def _duration(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _mib(count: int) -> str:
    return f"{count / 2**20:.1f} MiB"


def verdicts(result: SuiteResult) -> list[Verdict]:
    """One entry per target of the issue that this run can check."""
    found = []
    for operation in result.operations:
        for peer, limit in operation.limits.items():
            ratio = operation.ratio(peer)
            if ratio is not None:
                found.append(
                    {
                        "operation": operation.key,
                        "peer": peer,
                        "ratio": ratio,
                        "limit": limit,
                        "met": ratio <= limit,
                    }
                )
    if len(result.memory) >= 2:
        ratio = growth(result.memory)
        found.append(
            {
                "operation": "create_many memory",
                "peer": "transient growth",
                "ratio": ratio,
                "limit": MEMORY_GROWTH_LIMIT,
                "met": ratio <= MEMORY_GROWTH_LIMIT,
            }
        )
    return found


def _peer_line(operation: OperationResult, peer: PeerResult) -> list[str]:
    summary = peer.summary
    if summary is None:
        return [peer.label, "n/a", peer.missing, "", "", "", ""]
    median = _duration(summary.median)
    if operation.items > 1:
        median += f" ({1 / summary.median:,.0f}/s)"
    spread = f"{_duration(summary.p10)} - {_duration(summary.p90)}"
    cells = [peer.label, median, spread, f"{summary.iqr_pct:.0f}%"]
    cells.append(f"{summary.rounds}x{summary.calls}")
    ratio = operation.ratio(peer.key)
    limit = operation.limits.get(peer.key)
    if peer.key == "asyncdata" or ratio is None:
        return [*cells, "", ""]
    verdict = "" if limit is None else f"≤ {limit:.2f} {'PASS' if ratio <= limit else 'MISS'}"
    return [*cells, f"{ratio:.3f}", verdict]


def render(result: SuiteResult) -> str:
    """The table of medians, spreads, ratios and verdicts, then memory and a target summary."""
    machine = result.machine
    lines = [
        f"asyncdata benchmarks on {machine['server']} — {machine['cpu']}, {machine['cpus']} "
        f"CPUs, Python {machine['python']}, SQLAlchemy {machine['packages']['sqlalchemy']} "
        f"— {result.started_at}, {result.seconds:.0f} s",
        "median time per call (per booking for throughput); p10 - p90 and IQR (% of median) "
        "over rounds; n = rounds x calls per round; ratio = asyncdata / peer, lower is better",
        "",
    ]
    header = ["operation", "peer", "median", "p10 - p90", "IQR", "n", "ratio", "target"]
    rows: list[list[str]] = []
    for operation in result.operations:
        for index, peer in enumerate(operation.peers):
            rows.append([operation.key if index == 0 else "", *_peer_line(operation, peer)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    notes = [
        f"  {op.key}: {op.title}" + (f"; {op.note}" if op.note else "") for op in result.operations
    ]
    lines += ["", "operations:", *notes]
    if result.memory:
        lines += ["", "create_many memory (asyncdata, tracemalloc; input rows not counted):"]
        for use in result.memory:
            lines.append(
                f"  {use.rows:>7,} rows: peak {_mib(use.peak_bytes)}, retained (returned models) "
                f"{_mib(use.retained_bytes)}, transient {_mib(use.transient_bytes)}"
            )
    found = verdicts(result)
    misses = [v for v in found if not v["met"]]
    lines += ["", f"targets: {len(found) - len(misses)} PASS, {len(misses)} MISS"]
    lines += [f"  MISS {_missed(verdict, result)}" for verdict in misses]
    return "\n".join(lines)


def _missed(verdict: Verdict, result: SuiteResult) -> str:
    if verdict["peer"] == "transient growth":
        return (
            f"{verdict['operation']}: transient memory grows x{verdict['ratio']:.2f} from "
            f"{result.memory[0].rows:,} to {result.memory[-1].rows:,} rows "
            f"(limit x{verdict['limit']:.2f})"
        )
    return (
        f"{verdict['operation']}: asyncdata/{verdict['peer']} = {verdict['ratio']:.3f} "
        f"> {verdict['limit']:.2f}"
    )


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def to_json(result: SuiteResult) -> dict[str, Any]:
    """The same figures as the table, with every sample, as plain JSON values."""
    operations = []
    for operation in result.operations:
        peers = {}
        for peer in operation.peers:
            entry: dict[str, Any] = {"label": peer.label}
            if peer.summary is None:
                entry["missing"] = peer.missing
            else:
                summary = peer.summary
                entry.update(
                    median_s=summary.median,
                    p10_s=summary.p10,
                    p25_s=summary.p25,
                    p75_s=summary.p75,
                    p90_s=summary.p90,
                    rounds=summary.rounds,
                    calls=summary.calls,
                )
                entry["iqr_pct"] = _clean(peer.summary.iqr_pct)
                entry["ratio"] = operation.ratio(peer.key)
                entry["samples_s"] = peer.samples
                if operation.items > 1:
                    entry["per_second"] = 1 / peer.summary.median
            peers[peer.key] = entry
        operations.append(
            {
                "key": operation.key,
                "title": operation.title,
                "note": operation.note,
                "items_per_call": operation.items,
                "limits": operation.limits,
                "peers": peers,
            }
        )
    return {
        "backend": result.backend,
        "command": result.command,
        "started_at": result.started_at,
        "seconds": result.seconds,
        "machine": result.machine,
        "sizes": result.sizes,
        "unit": "seconds per call (per item when items_per_call > 1); ratio = asyncdata / peer",
        "operations": operations,
        "memory": [use.as_dict() for use in result.memory],
        "targets": verdicts(result),
    }


def write_json(result: SuiteResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n")
