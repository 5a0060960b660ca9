"""READ_MODEL_REPLICA_DSN: laid over READ_MODEL_DSN, so a host alone is a whole setting."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from eventkit import config
from eventkit.envparse import ConfigError
from query_service.replicas import position_hint

PRIMARY = "postgresql://users@read-model-rw.prod:5432/read_model?sslmode=require"
BASE = {"READ_MODEL_DSN": PRIMARY, "READ_MODEL_PASSWORD": "s3cret pw", "READ_MODEL_SCHEMA": "rm"}


def test_without_a_replica_the_query_service_reads_the_primary() -> None:
    assert config.query_settings(BASE).replica is None
    assert config.query_settings(BASE | {"READ_MODEL_REPLICA_DSN": "  "}).replica is None


def test_a_replica_host_keeps_the_primarys_user_database_tls_schema_and_password() -> None:
    settings = config.query_settings(BASE | {"READ_MODEL_REPLICA_DSN": "host=read-model-ro"})
    assert settings.replica is not None
    assert conninfo_to_dict(settings.replica.dsn) == {
        "host": "read-model-ro",
        "port": "5432",
        "user": "users",
        "dbname": "read_model",
        "sslmode": "require",
    }
    assert (settings.replica.schema, settings.replica.password) == ("rm", "s3cret pw")
    assert settings.read_model.dsn == PRIMARY  # LISTEN, migrations and the store-head check stay there


def test_a_full_replica_uri_wins_over_every_parameter_it_names() -> None:
    given = "postgresql://reader@10.0.0.7:6432,10.0.0.8:6432/rm_copy?load_balance_hosts=random"
    replica = config.query_settings(BASE | {"READ_MODEL_REPLICA_DSN": given}).replica
    assert replica is not None
    assert conninfo_to_dict(replica.dsn) == {
        "host": "10.0.0.7,10.0.0.8",
        "port": "6432,6432",
        "user": "reader",
        "dbname": "rm_copy",
        "sslmode": "require",
        "load_balance_hosts": "random",
    }


def test_a_replica_dsn_that_is_no_connection_string_stops_start_up_naming_it() -> None:
    with pytest.raises(ConfigError, match="READ_MODEL_REPLICA_DSN"):
        config.query_settings(BASE | {"READ_MODEL_REPLICA_DSN": "read-model-ro"})


@pytest.mark.parametrize(("payload", "position"), [("42", 42), ("", 0), ("not a number", 0), ("-3", 0)])
def test_a_notification_announces_a_position_or_none(payload: str, position: int) -> None:
    assert position_hint(payload) == position
