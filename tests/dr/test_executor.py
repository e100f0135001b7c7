"""The executor: journal, crash at every step and resume, no done step repeated."""

import json
import threading

import pytest

from multidc.dr.executor import Executor, StepFailed
from multidc.dr.journal import Journal, JournalError
from multidc.dr.runbook import RunbookKind, build
from multidc.dr.states import NeedsOperator, NotApplicable, StepState

from .graphs import KARAGANDA, graph_for, platform

DB = {"name": "db", "kind": "postgres", "sites": ["astana", "almaty"], "topology": "active-passive",
      "replication": "sync", "rpo": "0s", "rto": "15m"}
FILES = {"name": "files", "kind": "bucket", "sites": ["astana", "almaty"], "topology": "active-passive", "rpo": "1h"}


class Crash(BaseException):
    """The process dies: not an error the executor may catch and record."""


class CountingBackend:
    """Counts every effect it makes; crashes once, after the effect, at step number `crash_at`."""

    def __init__(self, effects, crash_at=None):
        self.effects, self.crash_at, self.lock = effects, crash_at, threading.Lock()

    def run(self, step):
        with self.lock:
            self.effects.append(step.id)
            if self.crash_at is not None and len(self.effects) == self.crash_at:
                raise Crash(step.id)
        return f"did {step.id}"


def _book():
    spec = platform([DB, FILES], witness=KARAGANDA)
    return build(spec, graph_for(spec), RunbookKind.unplanned, "almaty")


def _backends(book, backend):
    return {step.backend: backend for step in book.steps()}


def test_a_run_journals_start_and_done_for_every_step_fsynced_as_json_lines(tmp_path):
    book = _book()
    effects = []
    Executor(book, _backends(book, CountingBackend(effects)), Journal(tmp_path / "j", book.fingerprint)).run()
    lines = [json.loads(line) for line in (tmp_path / "j").read_text().splitlines()]
    assert lines[0]["event"] == "plan" and lines[0]["fingerprint"] == book.fingerprint
    done = [line["step"] for line in lines if line["event"] == "done"]
    assert sorted(done) == sorted(step.id for step in book.steps()) == sorted(effects)
    assert lines[-1]["event"] == "finished"


@pytest.mark.parametrize("crash_at", range(1, len(list(_book().steps())) + 1))
def test_crash_at_any_step_then_resume_repeats_no_done_step(tmp_path, crash_at):
    book = _book()
    effects = []
    with pytest.raises(Crash):
        Executor(book, _backends(book, CountingBackend(effects, crash_at)), Journal(tmp_path / "j", book.fingerprint)).run()
    done_before = Journal(tmp_path / "j", book.fingerprint).done()
    first_run = list(effects)
    effects.clear()
    Executor(book, _backends(book, CountingBackend(effects)), Journal(tmp_path / "j", book.fingerprint)).run()
    assert done_before.isdisjoint(effects), "a step recorded done ran again"
    assert set(first_run) | set(effects) == {step.id for step in book.steps()}
    assert Journal(tmp_path / "j", book.fingerprint).done() == {step.id for step in book.steps()}


def test_crashed_step_that_never_reached_done_runs_again(tmp_path):
    book = _book()
    effects = []
    with pytest.raises(Crash):
        Executor(book, _backends(book, CountingBackend(effects, 1)), Journal(tmp_path / "j", book.fingerprint)).run()
    crashed = effects[0]
    effects.clear()
    Executor(book, _backends(book, CountingBackend(effects)), Journal(tmp_path / "j", book.fingerprint)).run()
    assert crashed in effects


def test_torn_last_journal_line_is_ignored(tmp_path):
    book = _book()
    journal = Journal(tmp_path / "j", book.fingerprint)
    journal.append("done", "1.decide.declare.astana")
    with open(tmp_path / "j", "a") as handle:
        handle.write('{"event": "done", "step": "2.db.fen')
    assert Journal(tmp_path / "j", book.fingerprint).done() == {"1.decide.declare.astana"}


def test_journal_of_another_plan_is_refused(tmp_path):
    Journal(tmp_path / "j", "aaaa")
    with pytest.raises(JournalError, match="another runbook.*move the journal away"):
        Journal(tmp_path / "j", "bbbb")


def test_failed_step_stops_before_the_next_group(tmp_path):
    book = _book()
    effects = []

    class FailingFence(CountingBackend):
        def run(self, step):
            if step.action == "db.fence":
                raise RuntimeError("old primary answers but refuses the fence")
            return super().run(step)

    with pytest.raises(StepFailed, match="(?s)Fence the old primary.*rerun the same command"):
        Executor(book, _backends(book, FailingFence(effects)), Journal(tmp_path / "j", book.fingerprint)).run()
    assert not any(".db.promote." in e for e in effects)


def test_missing_backend_is_named_before_anything_runs(tmp_path):
    book = _book()
    with pytest.raises(ValueError, match="no backend for actions.*pulumi.flip"):
        Executor(book, {k: v for k, v in _backends(book, CountingBackend([])).items() if k != "pulumi"},
                 Journal(tmp_path / "j", book.fingerprint))


class ManualIsolate(CountingBackend):
    """Acts on every step but `manual.isolate`, which no backend can do: it needs an operator."""

    def run(self, step):
        if step.action == "manual.isolate":
            raise NeedsOperator(f"isolate {step.site} by hand")
        return super().run(step)


def test_a_manual_step_stops_the_run_before_the_next_group_and_is_not_done(tmp_path):
    book = _book()
    effects = []
    executor = Executor(book, _backends(book, ManualIsolate(effects)), Journal(tmp_path / "j", book.fingerprint))
    results = {r.step: r for r in executor.run()}
    isolate = next(s.id for s in book.steps() if s.action == "manual.isolate")
    assert results[isolate].status is StepState.needs_operator and "by hand" in results[isolate].detail
    assert [r.step for r in executor.waiting] == [isolate]
    assert not any(".db.promote." in e for e in effects), "promotion ran past a fence nobody did"
    journal = Journal(tmp_path / "j", book.fingerprint)
    assert isolate not in journal.done() and journal.waiting() == {isolate}
    assert not journal.events("finished")


def test_confirmed_manual_step_resumes_the_run_without_repeating_performed_steps(tmp_path):
    book = _book()
    effects = []
    Executor(book, _backends(book, ManualIsolate(effects)), Journal(tmp_path / "j", book.fingerprint)).run()
    first = list(effects)
    effects.clear()
    isolate = next(s.id for s in book.steps() if s.action == "manual.isolate")
    executor = Executor(book, _backends(book, ManualIsolate(effects)), Journal(tmp_path / "j", book.fingerprint),
                        confirmed={isolate})
    results = {r.step: r for r in executor.run()}
    assert results[isolate].status is StepState.confirmed and not executor.waiting
    assert set(first).isdisjoint(effects)
    assert all(r.status.performed for r in results.values())
    assert Journal(tmp_path / "j", book.fingerprint).events("finished")


def test_a_confirmation_never_stands_in_for_a_step_a_backend_can_do(tmp_path):
    book = _book()
    effects = []
    promote = next(s.id for s in book.steps() if s.action == "db.promote")
    isolate = next(s.id for s in book.steps() if s.action == "manual.isolate")
    results = {r.step: r for r in Executor(book, _backends(book, ManualIsolate(effects)),
                                           Journal(tmp_path / "j", book.fingerprint),
                                           confirmed={promote, isolate}).run()}
    assert promote in effects and results[promote].status is StepState.done


def test_a_step_that_does_not_apply_is_skipped_with_its_reason(tmp_path):
    book = _book()

    class LostSource(CountingBackend):
        def run(self, step):
            if step.action == "storage.switch":
                raise NotApplicable("the source site is lost")
            return super().run(step)

    results = Executor(book, _backends(book, LostSource([])), Journal(tmp_path / "j", book.fingerprint)).run()
    skipped = [r for r in results if r.status is StepState.skipped]
    assert skipped and all(r.detail == "the source site is lost" for r in skipped)


def test_confirming_a_step_that_is_not_in_the_runbook_is_refused(tmp_path):
    book = _book()
    with pytest.raises(ValueError, match="--confirm 9.manual.nothing: no such step"):
        Executor(book, _backends(book, CountingBackend([])), Journal(tmp_path / "j", book.fingerprint),
                 confirmed={"9.manual.nothing"})
