"""A real primary/standby PostgreSQL pair behind the DR database backend, for tests."""

import secrets

from multidc.dr.backends import DatabaseBackend, RecordingBackend
from multidc.local.postgres import LocalPostgres
from multidc.protection import postgres as pg


def streaming_pair(request, prefix: str, fallback_why: str):
    """Primary in site 'a', streaming standby 'b' in site 'b', both closed after the test."""
    primary = LocalPostgres(f"{prefix}-a")
    request.addfinalizer(primary.close)
    primary.start()
    standby = LocalPostgres(f"{prefix}-b", initialize=False, password=primary.password)
    request.addfinalizer(standby.close)
    auth = pg.ReplicationAuth(password=secrets.token_urlsafe(12))
    pg.configure_primary(primary, auth, ["b"])
    pg.create_standby(primary, standby, auth, name="b")
    backend = DatabaseBackend({("db", "a"): primary, ("db", "b"): standby}, auth, {"a": "a", "b": "b"},
                              fallback=RecordingBackend(fallback_why))
    return primary, standby, backend
