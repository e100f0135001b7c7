"""The partition drill's verdicts from the writers' records: overlap of primaries, lost writes, stalls."""

from multidc.drill import acks as ack
from multidc.drill.acks import Ack


def side(*spans):
    """Acks from (id, begun, acknowledged) triples."""
    return [Ack(i, acked, begun) for i, begun, acked in spans]


def test_sides_one_after_the_other_do_not_overlap():
    old = side((1, 0.0, 0.1), (2, 0.1, 0.2))
    new = side((1_000_000_000, 5.0, 5.1))
    assert not ack.overlap(old, new)
    assert ack.gap(old, new) == 4.8


def test_a_new_primary_answering_before_the_old_ones_last_answer_is_an_overlap():
    old = side((1, 0.0, 0.1), (2, 4.0, 6.0))  # the old primary still answered at 6.0
    new = side((1_000_000_000, 5.0, 5.1))
    assert ack.overlap(old, new) and ack.overlap(new, old)
    assert ack.gap(old, new) < 0


def test_an_attempt_begun_before_the_other_sides_last_answer_counts_as_overlap():
    # Conservative: the server may have committed it any time after it was sent.
    old = side((1, 0.0, 1.0))
    new = side((1_000_000_000, 0.9, 2.0))
    assert ack.overlap(old, new)


def test_a_side_that_acknowledged_nothing_overlaps_nothing():
    assert not ack.overlap(side((1, 0.0, 0.1)), [])
    assert ack.gap([], side((1, 0.0, 0.1))) is None


def test_lost_is_what_was_acknowledged_and_is_missing_on_the_surviving_primary():
    acked = side((1, 0.0, 0.1), (2, 0.1, 0.2), (3, 0.2, 0.3))
    assert ack.lost(acked, {1, 3, 99}) == [2]
    assert ack.lost(acked, {1, 2, 3}) == []


def test_the_longest_stall_counts_from_the_cut_and_to_the_end():
    acks = side((1, 0.0, 1.0), (2, 1.0, 1.5), (3, 1.5, 9.5))
    assert ack.longest_stall(acks, 0.5, 10.0) == 8.0  # 1.5 -> 9.5
    assert ack.longest_stall([], 2.0, 5.0) == 3.0
    assert ack.longest_stall(side((1, 0.0, 2.1)), 2.0, 5.0) == 5.0 - 2.1


def test_first_after_and_within():
    acks = side((1, 0.0, 1.0), (2, 1.0, 2.0), (3, 2.0, 3.0))
    assert ack.first_after(acks, 1.5) == 2.0
    assert ack.first_after(acks, 3.0) is None
    assert [a.id for a in ack.within(acks, 1.5, 3.0)] == [2, 3]


def test_records_are_read_back_and_a_half_written_line_is_skipped(tmp_path):
    path = tmp_path / "core-db.acks"
    path.write_text("1 10.500000 10.400000\n2 10.600000 10.500000\n3 10.7")
    assert ack.read(path) == [Ack(1, 10.5, 10.4), Ack(2, 10.6, 10.5)]
    assert ack.read(tmp_path / "missing.acks") == []
