from iot_pipeline.storage.access import SchemaAccess, writer_wait_reason


def test_the_owner_never_waits():
    assert writer_wait_reason(SchemaAccess("iot_user", owner=True, writable=False)) is None


def test_a_writer_with_insert_rights_does_not_wait():
    assert writer_wait_reason(SchemaAccess("iot_sink", owner=False, writable=True)) is None


def test_a_writer_without_the_table_waits_for_the_owners_migrations():
    reason = writer_wait_reason(SchemaAccess("iot_sink", owner=False, writable=False))
    assert reason is not None
    assert "iot_sink" in reason and "iot_storage.migrate" not in reason
    assert "python -m iot_pipeline.storage.migrate" in reason


def test_tls_settings_become_libpq_arguments():
    from iot_pipeline.storage.engine import tls_args

    assert tls_args("prefer", None) == {"sslmode": "prefer"}
    assert tls_args("verify-full", "/ca.pem") == {
        "sslmode": "verify-full",
        "sslrootcert": "/ca.pem",
    }
