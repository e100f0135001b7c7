"""Micro-batches: concurrent requests share one model call, each gets its own rows' answers."""

from __future__ import annotations

import asyncio

import pytest

from multidc.serving.batching import BatchRefused, MicroBatcher


def run_together(batcher: MicroBatcher, requests: list[list[list[float]]]) -> list:
    async def main():
        return await asyncio.gather(*(batcher.predict(rows) for rows in requests), return_exceptions=True)

    return asyncio.run(main())


def test_requests_in_the_same_turn_share_one_call_and_get_their_own_rows():
    calls = []

    def predict(rows):
        calls.append(len(rows))
        return [row[0] * 10 for row in rows]

    answers = run_together(MicroBatcher(predict), [[[1.0]], [[2.0], [3.0]], [[4.0]]])
    assert calls == [4]
    assert [predictions[start:stop] for predictions, start, stop in answers] == [[10.0], [20.0, 30.0], [40.0]]


def test_a_batch_never_passes_max_rows():
    calls = []

    def predict(rows):
        calls.append(len(rows))
        return rows

    run_together(MicroBatcher(predict, max_rows=3), [[[1.0], [2.0]], [[3.0]], [[4.0], [5.0]], [[6.0]]])
    assert calls == [3, 3]


def test_a_refused_batch_sends_each_request_back_to_mlflows_path():
    def predict(rows):
        raise ValueError("the model refuses")

    answers = run_together(MicroBatcher(predict), [[[1.0]], [[2.0]]])
    assert all(isinstance(answer, BatchRefused) for answer in answers)


@pytest.mark.parametrize("wrong", [[], [1.0], [1.0, 2.0, 3.0]])
def test_predictions_of_the_wrong_length_are_refused(wrong):
    answers = run_together(MicroBatcher(lambda rows: wrong), [[[1.0]], [[2.0]]])
    assert all(isinstance(answer, BatchRefused) for answer in answers)
