"""The executor's journal: one JSON object per line, fsync'd before the step it records goes on.

A failover that crashes (the operator's laptop dies, the process is killed) or stops at a
step that needs an operator is run again with the same journal: every step recorded
performed (`done`, `skipped`, `confirmed`) is not repeated, a step recorded `start`
without `done` is run again (every step is idempotent), so no done step is repeated. The
first line names the runbook's fingerprint, so a journal is never resumed by another plan.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Optional


PERFORMED = ("done", "skipped", "confirmed")  # multidc.dr.states.StepState.performed


class JournalError(RuntimeError):
    """The journal belongs to another runbook or cannot be written; the message says what to do."""


class Journal:
    """An append-only JSON-lines file for one runbook run."""

    def __init__(self, path: Path, fingerprint: str, description: str = "") -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self._lock = threading.Lock()  # steps of one group finish on several threads
        self.records: list[dict[str, Any]] = self._read()
        if self.records:
            found = self.records[0].get("fingerprint")
            if found != fingerprint:
                raise JournalError(
                    f"{self.path} was written for another runbook (fingerprint {found}, this one is {fingerprint}); "
                    "finish that run with the plan it was made for, or move the journal away to start anew")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.append("plan", fingerprint=fingerprint, description=description)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the new file's directory entry survives a crash too
            finally:
                os.close(dir_fd)

    def _read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from a crash mid-write: the step it began was not done
        return records

    def append(self, event: str, step: Optional[str] = None, **detail: Any) -> None:
        """Write one record and fsync it before returning."""
        record = {"time": time.time(), "event": event, **({"step": step} if step else {}), **detail}
        line = json.dumps(record, default=str) + "\n"
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
            self.records.append(record)

    def done(self) -> set[str]:
        """Ids of the steps recorded performed (done, skipped or confirmed)."""
        return set(self.performed())

    def performed(self) -> dict[str, dict[str, Any]]:
        """The record that performed each step: its `done`, `skipped` or `confirmed` line."""
        return {r["step"]: r for r in self.records if r.get("event") in PERFORMED}

    def waiting(self) -> set[str]:
        """Ids of the steps whose last record says they need an operator."""
        last = {r["step"]: r["event"] for r in self.records if "step" in r}
        return {step for step, event in last.items() if event == "needs-operator"}

    def events(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("event") == event]
