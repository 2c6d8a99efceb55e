"""Pre-aggregated message counts: what a scope's statistics read instead of its deliveries,
and the rule that keeps them equal to a scan of ``delivery``, written once per dialect.

Deliveries change status in many places (bulk batches, the worker's claim and release, provider
reports, erasure, redemptions setting ``converted_at``...), so the database keeps the counts,
with triggers no write path can bypass. Test sends never count. A key column without a value (a
bulk message has no distribution) holds ``''``: the key is a primary key, and NULLs are never
equal in one.

- **SQLite** has one writer: row triggers upsert the counts row at once.
- **PostgreSQL** has concurrent writers (two workers sending one campaign): a shared counter row
  would make them wait on each other and deadlock. Statement triggers append one *delta* row per
  key per statement instead (aggregated from the statement's transition tables);
  ``distribution.storage.delivery_counts.fold`` moves them into the counts. Reads add the deltas
  not folded yet, so figures are exact at once.

The triggers live beside the tables because they are part of the schema: migration 0023
installs them and backfills through ``install`` and ``backfill``.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Column, Connection, Date, Index, Integer, String
from sqlmodel import Field, SQLModel

__all__ = [
    "COLUMNS",
    "KEY_LIST",
    "DeliveryCount",
    "DeliveryCountDelta",
    "backfill",
    "drop_triggers",
    "install",
]


def _key(*, primary: bool) -> str:
    return Field(sa_column=Column(String, primary_key=primary, nullable=False))  # type: ignore[no-any-return]


class DeliveryCount(SQLModel, table=True):
    """How many messages of one key (scope columns, channel, UTC day of creation, status) there are,
    how many of them were sent (``sent_at`` set) and converted (``converted_at`` set)."""

    __tablename__ = "delivery_count"
    __table_args__ = (
        # The campaign's scope reads by the primary key's prefix; the other scopes by these.
        Index("ix_delivery_count_distribution", "project_id", "distribution_id"),
        Index("ix_delivery_count_template", "project_id", "template_id"),
        Index("ix_delivery_count_version", "project_id", "template_version_id"),
    )

    project_id: str = _key(primary=True)
    campaign_id: str = _key(primary=True)
    distribution_id: str = _key(primary=True)
    template_id: str = _key(primary=True)
    template_version_id: str = _key(primary=True)
    channel: str = _key(primary=True)
    day: date = Field(sa_column=Column(Date, primary_key=True, nullable=False))
    status: str = _key(primary=True)
    messages: int = Field(sa_column=Column(Integer, nullable=False))
    sent: int = Field(sa_column=Column(Integer, nullable=False))
    converted: int = Field(sa_column=Column(Integer, nullable=False))


class DeliveryCountDelta(SQLModel, table=True):
    """PostgreSQL: a change to the counts, appended by the statement that made it and folded
    into ``delivery_count`` later, so concurrent writers never wait on a shared counter row.
    Empty on SQLite, whose one writer updates the counts directly."""

    __tablename__ = "delivery_count_delta"
    # No index but the key: every delivery write appends here, and reads scan the few rows
    # not folded yet (a read that finds many folds them first).

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    project_id: str = _key(primary=False)
    campaign_id: str = _key(primary=False)
    distribution_id: str = _key(primary=False)
    template_id: str = _key(primary=False)
    template_version_id: str = _key(primary=False)
    channel: str = _key(primary=False)
    day: date = Field(sa_column=Column(Date, nullable=False))
    status: str = _key(primary=False)
    messages: int = Field(sa_column=Column(Integer, nullable=False))
    sent: int = Field(sa_column=Column(Integer, nullable=False))
    converted: int = Field(sa_column=Column(Integer, nullable=False))


_SCOPE = ("campaign_id", "distribution_id", "template_id", "template_version_id")
_KEY = ("project_id", *_SCOPE, "channel", "day", "status")
_COUNTS = ("messages", "sent", "converted")
COLUMNS = ", ".join((*_KEY, *_COUNTS))
KEY_LIST = ", ".join(_KEY)


#: The UTC day a delivery row was created, per dialect (SQLite stores the time as ISO text).
_DAY = {"sqlite": "substr({row}created_at, 1, 10)", "postgresql": "{row}created_at::date"}


def _key_of(row: str, day: str) -> str:
    """The key of a delivery row as SQL: missing scope values as '' (they are a primary key)."""
    scope = ", ".join(f"coalesce({row}{column}, '') AS {column}" for column in _SCOPE)
    return f"{row}project_id, {scope}, {row}channel, {day} AS day, {row}status"


# -- SQLite: row triggers upsert the counts -------------------------------------------------

_SQLITE_ADD = """
INSERT INTO delivery_count ({columns})
SELECT {key}, {sign}1, {sign}({row}.sent_at IS NOT NULL), {sign}({row}.converted_at IS NOT NULL)
WHERE NOT {row}.test
ON CONFLICT ({key_list}) DO UPDATE SET
    messages = messages + excluded.messages,
    sent = sent + excluded.sent,
    converted = converted + excluded.converted;
"""


def _sqlite_add(row: str, sign: str) -> str:
    key = _key_of(f"{row}.", _DAY["sqlite"].format(row=f"{row}."))
    return _SQLITE_ADD.format(columns=COLUMNS, key=key, sign=sign, row=row, key_list=KEY_LIST)


# An update that changes nothing counted (a lease, a retry's next attempt) costs no write.
_COUNTED_CHANGE = " OR ".join(
    [
        *(f"OLD.{c} IS NOT NEW.{c}" for c in ("project_id", *_SCOPE, "channel", "status", "test")),
        f"{_DAY['sqlite'].format(row='OLD.')} IS NOT {_DAY['sqlite'].format(row='NEW.')}",
        "(OLD.sent_at IS NULL) <> (NEW.sent_at IS NULL)",
        "(OLD.converted_at IS NULL) <> (NEW.converted_at IS NULL)",
    ]
)

_SQLITE_TRIGGERS = (
    "CREATE TRIGGER delivery_count_insert AFTER INSERT ON delivery BEGIN"
    f"{_sqlite_add('NEW', '')}END",
    f"CREATE TRIGGER delivery_count_update AFTER UPDATE ON delivery WHEN {_COUNTED_CHANGE} BEGIN"
    f"{_sqlite_add('OLD', '-')}{_sqlite_add('NEW', '')}END",
    "CREATE TRIGGER delivery_count_delete AFTER DELETE ON delivery BEGIN"
    f"{_sqlite_add('OLD', '-')}END",
)

# -- PostgreSQL: statement triggers append aggregated deltas --------------------------------


def _pg_changes(rows: str, sign: str) -> str:
    key = _key_of("", _DAY["postgresql"].format(row=""))
    return (
        f"SELECT {key}, {sign}1 AS messages, {sign}(sent_at IS NOT NULL)::int AS sent, "  # noqa: S608 (our names only)
        f"{sign}(converted_at IS NOT NULL)::int AS converted FROM {rows} WHERE NOT test"
    )


def _pg_append(changes: str) -> str:
    # Rows whose changes cancel out (an update of nothing counted) append nothing.
    return (
        f"INSERT INTO delivery_count_delta ({COLUMNS}) "  # noqa: S608 (our names only)
        f"SELECT {KEY_LIST}, sum(messages), sum(sent), sum(converted) "
        f"FROM ({changes}) AS changes GROUP BY {KEY_LIST} "
        "HAVING sum(messages) <> 0 OR sum(sent) <> 0 OR sum(converted) <> 0;"
    )


_PG_FUNCTION = f"""
CREATE FUNCTION delivery_count_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_pg_append(_pg_changes("new_rows", ""))}
    ELSIF TG_OP = 'DELETE' THEN
        {_pg_append(_pg_changes("old_rows", "-"))}
    ELSE
        {_pg_append(_pg_changes("new_rows", "") + " UNION ALL " + _pg_changes("old_rows", "-"))}
    END IF;
    RETURN NULL;
END
$$
"""

_PG_TRIGGERS = (
    _PG_FUNCTION,
    "CREATE TRIGGER delivery_count_insert AFTER INSERT ON delivery "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION delivery_count_append()",
    "CREATE TRIGGER delivery_count_update AFTER UPDATE ON delivery "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION delivery_count_append()",
    "CREATE TRIGGER delivery_count_delete AFTER DELETE ON delivery "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION delivery_count_append()",
)


def _is_sqlite(connection: Connection) -> bool:
    return connection.dialect.name == "sqlite"


def install(connection: Connection) -> None:
    """Create the triggers of the connection's dialect."""
    for statement in _SQLITE_TRIGGERS if _is_sqlite(connection) else _PG_TRIGGERS:
        connection.exec_driver_sql(statement)


def drop_triggers(connection: Connection) -> None:
    """Drop what ``install`` created."""
    for name in ("insert", "update", "delete"):
        if _is_sqlite(connection):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS delivery_count_{name}")
        else:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS delivery_count_{name} ON delivery")
    if not _is_sqlite(connection):
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS delivery_count_append()")


def backfill(connection: Connection) -> None:
    """Count every delivery again from scratch (the deltas of PostgreSQL included)."""
    day = _DAY[connection.dialect.name].format(row="")
    connection.exec_driver_sql("DELETE FROM delivery_count_delta")
    connection.exec_driver_sql("DELETE FROM delivery_count")
    connection.exec_driver_sql(
        f"INSERT INTO delivery_count ({COLUMNS}) "  # noqa: S608 (our names only)
        f"SELECT {_key_of('', day)}, count(*), count(sent_at), count(converted_at) "
        f"FROM delivery WHERE NOT test GROUP BY {', '.join(map(str, range(1, len(_KEY) + 1)))}"
    )
