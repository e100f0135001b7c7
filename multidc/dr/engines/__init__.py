"""Database backends per replication mechanism, and the dispatcher that picks one per system.

`multidc.dr.backends.DatabaseBackend` carries out the `db.*` steps of physical streaming
replication (promote, pg_rewind). A system replicated another way gets the backend of its
mechanism here: logical PostgreSQL (`logical.py`), Redis (`redis.py`), MariaDB/MySQL with GTIDs (`mariadb.py`).
"""
