from pathlib import Path

import pytest

from iot_pipeline.storage.migrate import (
    AppliedMigration,
    Edition,
    Migration,
    MigrationError,
    default_migrations_dir,
    edition_from_license,
    parse_filename,
    pending_migrations,
    plan_migrations,
    read_migration_files,
    resolve_migrations_dir,
    sql_checksum,
    strip_sql_comments,
)


def test_parse_neutral_and_edition_file_names() -> None:
    neutral = parse_filename("0001_sensor_readings.sql")
    assert (neutral.version, neutral.name, neutral.edition) == (1, "sensor_readings", None)
    variant = parse_filename("0004_aggregates.apache.sql")
    assert (variant.version, variant.name, variant.edition) == (4, "aggregates", Edition.APACHE)
    assert parse_filename("0004_aggregates.timescale.sql").edition is Edition.TIMESCALE


@pytest.mark.parametrize(
    "name", ["1_x.sql", "0001-x.sql", "0001_X.sql", "0001_x.txt", "0001_x.sql.bak", "abcd_x.sql"]
)
def test_parse_rejects_bad_names(name: str) -> None:
    with pytest.raises(MigrationError, match="does not match"):
        parse_filename(name)


def test_parse_rejects_unknown_edition() -> None:
    with pytest.raises(MigrationError, match="unknown edition 'oracle'"):
        parse_filename("0002_x.oracle.sql")


FILES = {
    "0002_aggs.timescale.sql": "CREATE cagg;",
    "0001_base.sql": "CREATE TABLE t();",
    "0002_aggs.apache.sql": "CREATE mv;",
    "0010_more.sql": "SELECT 1;",
}


@pytest.mark.parametrize(
    ("edition", "expected_second"),
    [(Edition.APACHE, "0002_aggs.apache.sql"), (Edition.TIMESCALE, "0002_aggs.timescale.sql")],
)
def test_plan_picks_variant_per_edition_in_version_order(
    edition: Edition, expected_second: str
) -> None:
    plan = plan_migrations(FILES, edition)
    assert [m.filename for m in plan] == ["0001_base.sql", expected_second, "0010_more.sql"]
    assert [m.version for m in plan] == [1, 2, 10]
    assert plan[1].sql == FILES[expected_second]


def test_plan_rejects_missing_variant() -> None:
    with pytest.raises(MigrationError, match=r"no variant for: \['timescale'\]"):
        plan_migrations({"0001_a.apache.sql": ""}, Edition.APACHE)


def test_plan_rejects_neutral_mixed_with_variants() -> None:
    files = {"0001_a.sql": "", "0001_a.apache.sql": "", "0001_a.timescale.sql": ""}
    with pytest.raises(MigrationError, match="mixes"):
        plan_migrations(files, Edition.APACHE)


def test_plan_rejects_two_names_for_one_version() -> None:
    with pytest.raises(MigrationError, match="different names"):
        plan_migrations({"0001_a.sql": "", "0001_b.sql": ""}, Edition.APACHE)


def _migration(version: int, sql: str) -> Migration:
    return Migration(version, f"m{version}", f"{version:04d}_m{version}.sql", sql)


def _applied(m: Migration) -> AppliedMigration:
    return AppliedMigration(m.version, m.name, "apache", m.checksum)


def test_pending_skips_applied_versions() -> None:
    plan = [_migration(1, "a"), _migration(2, "b"), _migration(3, "c")]
    assert pending_migrations(plan, []) == plan
    assert pending_migrations(plan, [_applied(plan[0]), _applied(plan[1])]) == [plan[2]]
    assert pending_migrations(plan, [_applied(m) for m in plan]) == []


def test_pending_refuses_an_edited_applied_migration() -> None:
    plan = [_migration(1, "a")]
    edited = AppliedMigration(1, "m1", "apache", sql_checksum("something else"))
    with pytest.raises(MigrationError, match="changed after it was applied"):
        pending_migrations(plan, [edited])


def test_pending_refuses_unknown_applied_versions() -> None:
    plan = [_migration(1, "a")]
    with pytest.raises(MigrationError, match=r"\[7\]"):
        pending_migrations(plan, [_applied(plan[0]), AppliedMigration(7, "x", "apache", "c")])


def test_checksum_ignores_line_ending_style_only() -> None:
    assert sql_checksum("a;\r\nb;\r\n") == sql_checksum("a;\nb;\n")
    assert sql_checksum("a;\n") != sql_checksum("b;\n")


def test_strip_sql_comments() -> None:
    assert strip_sql_comments("-- only a comment\n\n  -- another\n") == ""
    assert strip_sql_comments("SELECT 1; -- trailing\n-- x\n") == "SELECT 1;"


@pytest.mark.parametrize(
    ("value", "edition"),
    [("apache", Edition.APACHE), (" Apache ", Edition.APACHE), ("timescale", Edition.TIMESCALE)],
)
def test_edition_from_license(value: str, edition: Edition) -> None:
    assert edition_from_license(value) is edition


@pytest.mark.parametrize("value", [None, "", "proprietary"])
def test_edition_from_license_rejects_unknown(value: str | None) -> None:
    with pytest.raises(MigrationError):
        edition_from_license(value)


def test_resolve_dir_prefers_configured_folder(tmp_path: Path) -> None:
    assert resolve_migrations_dir(tmp_path) == tmp_path
    assert resolve_migrations_dir(None) == default_migrations_dir()
    assert resolve_migrations_dir("") == default_migrations_dir()
    with pytest.raises(MigrationError, match="is not a folder"):
        resolve_migrations_dir(tmp_path / "missing")


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="no migration files"):
        read_migration_files(tmp_path)


@pytest.mark.parametrize("edition", list(Edition))
def test_project_migrations_plan_for_every_edition(edition: Edition) -> None:
    directory = default_migrations_dir()
    assert directory.parts[-2:] == ("database", "migrations")
    plan = plan_migrations(read_migration_files(directory), edition)
    versions = [m.version for m in plan]
    assert versions == list(range(1, len(plan) + 1)), "versions are consecutive from 0001"
    assert all(m.sql.strip() for m in plan)
