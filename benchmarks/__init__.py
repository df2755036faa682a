"""asyncdata's benchmark suite: asyncdata against the code it replaces.

Run ``python -m benchmarks --backend sqlite|postgresql [--rounds N] [--json PATH]``.
For each operation it times (reads, writes, search, free slots, bulk inserts and
booking throughput; listed in ``operations.py``), in one process and in alternating
rounds, four peers doing the same work:

- ``asyncdata``: the repository call (``peers/library.py``);
- ``hand-written``: the same with SQLAlchemy's ORM by hand (``peers/handwritten.py``);
- ``advanced-alchemy``: its ``SQLAlchemyAsyncRepository`` on asyncdata's models
  (``peers/advanced.py``; the ``bench`` extra, n/a when not installed);
- ``raw``: asyncpg or aiosqlite with hand-written SQL, the floor (``peers/raw.py``).

Modules: ``workload`` (sizes and input rows), ``database`` (a fresh database
per run), ``seed`` (the data set), ``operations`` (what is timed and the
targets), ``timing`` (alternating rounds, statistics), ``memory``
(``create_many`` under tracemalloc), ``suite`` (one run), ``report`` (table,
verdicts, JSON).
"""

from benchmarks.suite import SuiteResult, run_suite
from benchmarks.workload import SMOKE_SIZES, Sizes

__all__ = ["SMOKE_SIZES", "Sizes", "SuiteResult", "run_suite"]
