"""Versioned, idempotent schema migrations from ordered SQL files.

Files live in ``database/migrations`` and are named ``NNNN_name.sql`` (applied on every server) or
``NNNN_name.<edition>.sql`` (one file per TimescaleDB edition: ``timescale`` for the community
licence, ``apache`` for the Apache-only build). Each applied version is recorded in
``schema_migrations`` with the edition and a checksum of the file, inside the same transaction as
the migration itself, so a second run is a no-op and a half-applied migration never counts.

Run it with ``python -m iot_pipeline.storage.migrate``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from loguru import logger
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError, OperationalError

VERSION_TABLE = "schema_migrations"
# Any 64-bit number; it keeps two runners (the stack's `up`, a sink starting) from interleaving.
ADVISORY_LOCK_KEY = 0x10_7_1DB_3160
MIGRATIONS_DIR_ENV = "POSTGRES_MIGRATIONS_DIR"

_FILENAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<edition>[a-z]+))?\.sql$")


class Edition(StrEnum):
    """The TimescaleDB licence the server runs under (``SHOW timescaledb.license``)."""

    TIMESCALE = "timescale"  # community licence: continuous aggregates, compression, policies
    APACHE = "apache"  # Apache-only build: hypertables, time_bucket, drop_chunks


class MigrationError(RuntimeError):
    """The migration files or the recorded history are inconsistent."""


@dataclass(frozen=True)
class MigrationFile:
    version: int
    name: str
    edition: Edition | None
    filename: str


@dataclass(frozen=True)
class Migration:
    """One step chosen for a given edition."""

    version: int
    name: str
    filename: str
    sql: str

    @property
    def checksum(self) -> str:
        return sql_checksum(self.sql)


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    edition: str
    checksum: str


@dataclass(frozen=True)
class MigrationReport:
    edition: Edition
    applied: tuple[int, ...]
    already_applied: tuple[int, ...]


def parse_filename(filename: str) -> MigrationFile:
    """Parse ``0004_aggregates.apache.sql`` into its parts; reject anything else."""
    match = _FILENAME.match(filename)
    if match is None:
        raise MigrationError(
            f"migration file name {filename!r} does not match "
            "NNNN_name.sql or NNNN_name.EDITION.sql"
        )
    edition_text = match["edition"]
    edition: Edition | None = None
    if edition_text is not None:
        try:
            edition = Edition(edition_text)
        except ValueError:
            known = ", ".join(e.value for e in Edition)
            raise MigrationError(
                f"migration file {filename!r} names unknown edition {edition_text!r} "
                f"(known: {known})"
            ) from None
    return MigrationFile(int(match["version"]), match["name"], edition, filename)


def plan_migrations(files: Mapping[str, str], edition: Edition) -> list[Migration]:
    """Choose, per version, the file to apply on ``edition``; ``files`` maps file name to SQL.

    A version is either one edition-neutral file or one file per edition, all with the same name.
    """
    by_version: dict[int, list[MigrationFile]] = {}
    for filename in files:
        parsed = parse_filename(filename)
        by_version.setdefault(parsed.version, []).append(parsed)
    plan: list[Migration] = []
    for version in sorted(by_version):
        group = by_version[version]
        names = {f.name for f in group}
        if len(names) != 1:
            raise MigrationError(f"version {version:04d} has files with different names: {names}")
        neutral = [f for f in group if f.edition is None]
        if neutral and len(group) > 1:
            raise MigrationError(
                f"version {version:04d} mixes an edition-neutral file with edition variants"
            )
        if neutral:
            chosen = neutral[0]
        else:
            present = {f.edition for f in group}
            missing = sorted(e.value for e in Edition if e not in present)
            if missing:
                raise MigrationError(f"version {version:04d} has no variant for: {missing}")
            chosen = next(f for f in group if f.edition == edition)
        plan.append(Migration(version, chosen.name, chosen.filename, files[chosen.filename]))
    return plan


def pending_migrations(
    plan: Sequence[Migration], applied: Iterable[AppliedMigration]
) -> list[Migration]:
    """The steps of ``plan`` not yet applied; a changed applied file is an error, not a re-run."""
    recorded = {a.version: a for a in applied}
    planned_versions = {m.version for m in plan}
    unknown = sorted(v for v in recorded if v not in planned_versions)
    if unknown:
        raise MigrationError(
            f"database has migrations {unknown} that are not in the migrations folder "
            "(is the folder older than the database?)"
        )
    pending: list[Migration] = []
    for migration in plan:
        previous = recorded.get(migration.version)
        if previous is None:
            pending.append(migration)
        elif previous.checksum != migration.checksum:
            raise MigrationError(
                f"migration {migration.filename} changed after it was applied "
                f"(recorded checksum {previous.checksum[:12]}, file {migration.checksum[:12]}); "
                "add a new migration instead of editing an applied one"
            )
    return pending


def sql_checksum(sql: str) -> str:
    """SHA-256 of the SQL with line endings normalised (a checkout on Windows changes nothing)."""
    return hashlib.sha256(sql.replace("\r\n", "\n").encode("utf-8")).hexdigest()


def strip_sql_comments(sql: str) -> str:
    """The SQL without ``--`` line comments and blank lines (to spot comment-only files)."""
    lines = (line.split("--", 1)[0].strip() for line in sql.splitlines())
    return "\n".join(line for line in lines if line)


def edition_from_license(value: str | None) -> Edition:
    """Map the ``timescaledb.license`` setting to an edition."""
    if value is None or not value.strip():
        raise MigrationError("timescaledb.license is not set: is the timescaledb extension loaded?")
    normalized = value.strip().lower()
    if normalized == "apache":
        return Edition.APACHE
    if normalized in ("timescale", "community"):
        return Edition.TIMESCALE
    raise MigrationError(f"unknown timescaledb.license value {value!r}")


def default_migrations_dir() -> Path:
    """``database/migrations`` of the source tree this package was installed from (editable)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "database" / "migrations"
        if candidate.is_dir():
            return candidate
    raise MigrationError(
        "cannot find database/migrations above the package; set "
        f"{MIGRATIONS_DIR_ENV} to the folder that holds the migration SQL files"
    )


def resolve_migrations_dir(configured: str | Path | None) -> Path:
    """The configured folder if one is given (Docker images), else the source tree's."""
    if configured is None or str(configured) == "":
        return default_migrations_dir()
    path = Path(configured)
    if not path.is_dir():
        raise MigrationError(f"{MIGRATIONS_DIR_ENV}={path} is not a folder")
    return path


def read_migration_files(directory: Path) -> dict[str, str]:
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.sql"))}
    if not files:
        raise MigrationError(f"no migration files (*.sql) in {directory}")
    return files


def ensure_extension(conn: Connection) -> None:
    """Create the timescaledb extension unless it exists. Another session (the stack's bootstrap)
    may create it at the same moment: losing that race is success, not an error."""
    present = conn.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    if present:
        return
    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS timescaledb WITH SCHEMA public"))
    except IntegrityError:
        logger.info("timescaledb extension was created concurrently")


def detect_edition(conn: Connection) -> Edition:
    """Read ``timescaledb.license`` (set by the loader once the extension exists)."""
    value = conn.execute(text("SELECT current_setting('timescaledb.license', true)")).scalar()
    return edition_from_license(value)


def _ensure_version_table(conn: Connection) -> None:
    conn.execute(
        text(
            f"""
            CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
                version    INTEGER PRIMARY KEY,
                name       TEXT NOT NULL,
                edition    TEXT NOT NULL,
                checksum   TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
            )
            """
        )
    )


def applied_migrations(conn: Connection) -> list[AppliedMigration]:
    rows = conn.execute(
        text(f"SELECT version, name, edition, checksum FROM {VERSION_TABLE} ORDER BY version")
    )
    return [AppliedMigration(r.version, r.name, r.edition, r.checksum) for r in rows]


def apply_migrations(engine: Engine, directory: Path, schema: str | None = None) -> MigrationReport:
    """Apply every pending migration, each in its own transaction, under an advisory lock.

    With ``schema`` (POSTGRES_SCHEMA; the engine puts it first on the search_path) the schema is
    created first and everything, the version table included, lives there.
    """
    files = read_migration_files(directory)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        conn.commit()
        try:
            with conn.begin():
                if schema:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                ensure_extension(conn)
                _ensure_version_table(conn)
            edition = detect_edition(conn)
            conn.rollback()
            plan = plan_migrations(files, edition)
            done = applied_migrations(conn)
            conn.rollback()
            pending = pending_migrations(plan, done)
            for migration in pending:
                logger.info("applying migration {} ({} edition)", migration.filename, edition.value)
                with conn.begin():
                    if strip_sql_comments(migration.sql):
                        conn.exec_driver_sql(migration.sql)
                    conn.execute(
                        text(
                            f"INSERT INTO {VERSION_TABLE} (version, name, edition, checksum) "
                            "VALUES (:version, :name, :edition, :checksum)"
                        ),
                        {
                            "version": migration.version,
                            "name": migration.name,
                            "edition": edition.value,
                            "checksum": migration.checksum,
                        },
                    )
            if not pending:
                logger.info("schema is up to date ({} edition)", edition.value)
            return MigrationReport(
                edition=edition,
                applied=tuple(m.version for m in pending),
                already_applied=tuple(a.version for a in done),
            )
        finally:
            conn.rollback()
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            conn.commit()


def main(argv: Sequence[str] | None = None) -> int:
    """Apply pending migrations to the database the settings name (POSTGRES_*)."""
    from iot_pipeline.config.settings import SettingsError, load_settings
    from iot_pipeline.observability.logging import configure_logging
    from iot_pipeline.storage.engine import create_db_engine

    parser = argparse.ArgumentParser(
        prog="python -m iot_pipeline.storage.migrate", description=main.__doc__
    )
    parser.add_argument(
        "--migrations-dir",
        help=f"folder of NNNN_*.sql files (default: ${MIGRATIONS_DIR_ENV} or database/migrations)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, "migrate")
    try:
        directory = resolve_migrations_dir(args.migrations_dir or settings.postgres_migrations_dir)
        engine = create_db_engine(settings)
    except (MigrationError, SettingsError) as exc:
        logger.error("migrate: {}", exc)
        return 2
    try:
        report = apply_migrations(engine, directory, settings.postgres_schema)
    except MigrationError as exc:
        logger.error("migration failed: {}", exc)
        return 2
    except OperationalError as exc:
        logger.error("database unreachable: {}", " ".join(str(exc.orig).split()))
        return 1
    finally:
        engine.dispose()
    logger.info(
        "migrations: edition={} applied={} already applied={}",
        report.edition.value,
        list(report.applied),
        list(report.already_applied),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
