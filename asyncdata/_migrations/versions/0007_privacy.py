"""Privacy: session ids kept only as SHA-256, an admin log the database keeps append-only.

Upgrade:

* ``user_sessions.session_id`` holds the SHA-256 (64 hex digits) of each stored
  id from now on; the ids already stored are hashed in place (PostgreSQL with
  its ``sha256()`` in one UPDATE; SQLite has none, so in Python, in batches).
  ``search_text`` of sessions is rebuilt without the id, and on SQLite its FTS5
  index (0004) is rebuilt from that text, so no stored copy or fragment of an id
  survives.
* ``admin_logs`` refuses UPDATE and DELETE in the database: on PostgreSQL a
  statement trigger (refusing TRUNCATE too) raising SQLSTATE 23001 with
  constraint ``admin_logs_append_only``; on SQLite BEFORE UPDATE / BEFORE DELETE
  triggers aborting with that name.
* ``user_sessions.client_email`` gets an index: erasure finds a client's
  sessions by it, inside its write transaction.

Downgrade removes the triggers and puts the digest back into sessions'
``search_text``. It cannot give the ids back: a hash cannot be undone, so
after a downgrade the stored values are digests, which no client holds, and
every session stored before the downgrade is in effect ended.

Revision ID: 0007_privacy
Revises: 0006_lifecycle
Create Date: 2026-11-29
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007_privacy"
down_revision: str | None = "0006_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEPARATOR = "\x1f"
BATCH = 1_000
GUARD = "admin_logs_append_only"

SEARCH_BEFORE = ("session_id", "client_name", "client_email", "client_phone", "ip_address")
SEARCH_AFTER = ("client_name", "client_email", "client_phone", "ip_address")

PG_GUARD = [
    f"CREATE OR REPLACE FUNCTION {GUARD}() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION USING MESSAGE = 'admin_logs is append-only: ' || TG_OP "
    f"|| ' refused', ERRCODE = 'restrict_violation', CONSTRAINT = '{GUARD}'; "
    "END $$",
    f"CREATE TRIGGER {GUARD} BEFORE UPDATE OR DELETE OR TRUNCATE ON admin_logs "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {GUARD}()",
]
SQLITE_GUARD = [
    f"CREATE TRIGGER {GUARD}_{kind} BEFORE {kind.upper()} ON admin_logs "
    f"BEGIN SELECT RAISE(ABORT, '{GUARD}'); END"
    for kind in ("update", "delete")
]

sessions = sa.table(
    "user_sessions",
    sa.column("id", sa.Integer),
    *(sa.column(name, sa.Text) for name in (*SEARCH_BEFORE, "search_text")),
)


def _search_text(*fields: str | None) -> str:
    return SEPARATOR.join(field.casefold() if field else "" for field in fields)


def _rewrite_sessions(sources: Sequence[str], *, hash_ids: bool) -> None:
    """Set ``search_text`` from ``sources`` (and, with ``hash_ids``, hash ``session_id``),
    reading and writing the rows in batches of ``BATCH`` by id."""
    bind = op.get_bind()
    targets: dict[str, sa.BindParameter[str]] = {"search_text": sa.bindparam("new_search_text")}
    if hash_ids:
        targets["session_id"] = sa.bindparam("new_session_id")
    stmt = sa.update(sessions).where(sessions.c.id == sa.bindparam("row_id")).values(targets)
    columns = [sessions.c.id, sessions.c.session_id, *(sessions.c[s] for s in sources)]
    last = 0
    while True:
        rows = bind.execute(
            sa.select(*columns).where(sessions.c.id > last).order_by(sessions.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        params = []
        for row in rows:
            values = dict(row._mapping)
            change = {
                "row_id": row.id,
                "new_search_text": _search_text(*(values[s] for s in sources)),
            }
            if hash_ids:
                change["new_session_id"] = hashlib.sha256(
                    row.session_id.encode("utf-8")
                ).hexdigest()
            params.append(change)
        bind.execute(stmt, params)
        last = rows[-1].id


def upgrade() -> None:
    postgresql = op.get_context().dialect.name == "postgresql"
    if postgresql:
        op.execute(
            "UPDATE user_sessions "
            "SET session_id = encode(sha256(convert_to(session_id, 'UTF8')), 'hex')"
        )
    _rewrite_sessions(SEARCH_AFTER, hash_ids=not postgresql)
    if not postgresql:
        # 0004's FTS5 index only marks the old search texts deleted; their trigrams (the
        # ids' fragments) stay in its storage until rebuilt from the rewritten texts.
        op.execute("INSERT INTO user_sessions_search(user_sessions_search) VALUES ('rebuild')")
    for statement in PG_GUARD if postgresql else SQLITE_GUARD:
        op.execute(statement)
    # erase_client finds a client's sessions by email, inside its write transaction.
    op.create_index(op.f("ix_user_sessions_client_email"), "user_sessions", ["client_email"])


def downgrade() -> None:
    op.drop_index(op.f("ix_user_sessions_client_email"), table_name="user_sessions")
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {GUARD} ON admin_logs")
        op.execute(f"DROP FUNCTION IF EXISTS {GUARD}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {GUARD}_update")
        op.execute(f"DROP TRIGGER IF EXISTS {GUARD}_delete")
    _rewrite_sessions(SEARCH_BEFORE, hash_ids=False)
