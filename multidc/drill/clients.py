"""The drill's clients: they write through the endpoints the outputs document gives, and remember
every acknowledged write, as an application's own audit log would."""

from __future__ import annotations

import threading
import time
from typing import Optional

import psycopg

from multidc.dr.backends import s3_client
from multidc.protection.rclone import S3Location


class Writer:
    """A client that inserts one row after another and remembers every acknowledged commit."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        # id, when acknowledged, port of the server that did, when the attempt began
        self.acks: list[tuple[int, float, int, float]] = []
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._next = 1

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=1)
                begun = time.monotonic()
                conn.execute("INSERT INTO drill (id) VALUES (%s)", [self._next])
                self.acks.append((self._next, time.monotonic(), conn.info.port, begun))
                self._next += 1
            except psycopg.Error:
                # The attempt's id may or may not have committed: never reuse it.
                self._next += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn is not None:
            conn.close()

    def first_ack_after(self, moment: float, port: Optional[int] = None, *, begun: bool = False) -> Optional[float]:
        """When the first write after `moment` was acknowledged (with `begun`: of a write begun after it)."""
        return next((t for _, t, p, b in self.acks
                     if (b if begun else t) > moment and port in (None, p)), None)

    def acked_ids(self, port: Optional[int] = None) -> set[int]:
        return {i for i, _, p, _ in self.acks if port in (None, p)}

    def halt(self) -> None:
        self.stop.set()
        # Bounded short: a commit waiting for a lost synchronous standby never returns; closing
        # the server (later in the drill's cleanup) ends it.
        self._thread.join(timeout=5)


class ObjectWriter:
    """Puts one object after another into the primary site's bucket until stopped."""

    def __init__(self, location: S3Location) -> None:
        self.location, self.acked = location, []
        self.acked_at: list[float] = []  # time.monotonic() of each acknowledgement, in the order of `acked`
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        s3 = s3_client(self.location)
        n = 0
        while not self.stop.is_set():
            key = f"drill/{n:06d}"
            try:
                s3.put_object(Bucket=self.location.bucket, Key=key, Body=key.encode())
                self.acked.append(key)
                self.acked_at.append(time.monotonic())
            except Exception:  # noqa: BLE001 - the site may be dying; stop writing
                return
            n += 1
            time.sleep(0.02)

    def start(self) -> None:
        self._thread.start()

    def halt(self) -> None:
        self.stop.set()
        self._thread.join(timeout=15)


