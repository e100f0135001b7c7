"""Micro-batches: requests that reach the server together share one call of the model.

A request's rows are queued and a flush is scheduled for the event loop's next turn, so every
request that arrived in the same read of the sockets joins the batch. The flush calls the model
once, in the event loop's thread: on a server of one CPU per worker a thread pool would only
add switches, and while the model runs the next requests wait in the kernel's socket buffers,
which makes the next batch. ``max_rows`` bounds a batch (and the latency it adds).

A batch the model refuses as a whole is not answered from here: every request in it is told
to take MLflow's own path, which gives each its own answer (its prediction or its error).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Optional

Rows = list[list[Any]]


class BatchRefused(Exception):
    """The model refused the batch this request was in: answer it through MLflow's own path."""


class MicroBatcher:
    """Collects rows from concurrent requests and predicts them in one call."""

    def __init__(self, predict: Callable[[Rows], Any], max_rows: int = 64) -> None:
        self._predict = predict
        self._max_rows = max_rows
        self._queue: list[tuple[Rows, asyncio.Future]] = []
        self._scheduled = False

    async def predict(self, rows: Rows) -> tuple[Any, int, int]:
        """``(predictions of the batch, first row of these rows, row after the last)``."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((rows, future))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        queue, self._queue = self._queue, []
        batch: list[tuple[Rows, asyncio.Future]] = []
        size = 0
        for rows, future in queue:
            if batch and size + len(rows) > self._max_rows:
                self._run(batch)
                batch, size = [], 0
            batch.append((rows, future))
            size += len(rows)
        if batch:
            self._run(batch)

    def _run(self, batch: list[tuple[Rows, asyncio.Future]]) -> None:
        rows = [row for request_rows, _ in batch for row in request_rows]
        predictions: Optional[Any] = None
        try:
            predictions = self._predict(rows)
            if len(predictions) != len(rows):
                predictions = None
        except Exception:  # noqa: BLE001 - the batch is answered through MLflow's path instead
            predictions = None
        start = 0
        for request_rows, future in batch:
            if future.cancelled():
                continue
            if predictions is None:
                future.set_exception(BatchRefused())
            else:
                future.set_result((predictions, start, start + len(request_rows)))
            start += len(request_rows)
