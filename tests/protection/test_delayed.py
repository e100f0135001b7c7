"""The delayed standby's decision: promote it at T only while it has replayed nothing committed at or after T;
otherwise `multidc restore` takes the vault and says why (or refuses, with --from delayed-standby)."""

import datetime as dt
from pathlib import Path

import pytest

from multidc.ops.outputs import Archive, DelayedStandby, LocalServer
from multidc.protection import delayed, delayed_command
from multidc.protection.locate import BucketLocation, SystemData

T = dt.datetime(2026, 12, 2, 3, 0, 0, tzinfo=dt.timezone.utc)
BASE_FINISHED = T - dt.timedelta(minutes=30)


def at(seconds_from_t, in_recovery=True):
    moment = None if seconds_from_t is None else T + dt.timedelta(seconds=seconds_from_t)
    return delayed.Position(in_recovery, "0/5000028", moment)


def test_a_standby_that_replayed_only_commits_before_t_reaches_t():
    assert delayed.reaches(at(-0.001), BASE_FINISHED, T) is None


def test_a_standby_that_replayed_nothing_since_its_base_backup_reaches_a_t_after_it():
    assert delayed.reaches(at(None), BASE_FINISHED, T) is None
    assert "already replayed up to" in delayed.reaches(at(None), T + dt.timedelta(seconds=1), T)


def test_a_standby_that_replayed_a_commit_at_or_after_t_was_found_too_late():
    for seconds in (0, 5):
        why = delayed.reaches(at(seconds), BASE_FINISHED, T)
        assert why is not None and "found later than its delay" in why


def test_a_promoted_standby_is_no_standby():
    assert "no longer a standby" in delayed.reaches(at(-10, in_recovery=False), BASE_FINISHED, T)


def test_promotion_settings_stop_before_t_and_lift_the_delay():
    settings = delayed.promote_settings(T)
    assert settings == {"recovery_target_time": "'2026-12-02 03:00:00.000000+00'", "recovery_target_inclusive": "off",
                        "recovery_target_action": "promote", "recovery_min_apply_delay": "0"}


def test_the_standby_has_no_primary_and_does_not_archive():
    settings = delayed.standby_settings("barman-cloud-wal-restore ... %f %p", 3600)
    assert settings["primary_conninfo"] == "''" and settings["archive_mode"] == "off"
    assert settings["recovery_min_apply_delay"] == "3600s"


@pytest.fixture
def system_data(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "PG_VERSION").write_text("18\n")
    vault = BucketLocation(site="almaty", bucket="vault", endpoint="http://127.0.0.1:1", region="us-east-1")
    entry = DelayedStandby(site="almaty", host="127.0.0.1", port=1, delay_s=3600, password="pw",
                           base_backup="20261202T023000", base_backup_finished=BASE_FINISHED.isoformat(),
                           local=LocalServer(base_dir=str(tmp_path)))
    archive = Archive(tool="barman-cloud", prefix="pg-archive", server_name="core-db", archive_timeout_s=30,
                      runs_on="primary")
    return SystemData(system="core-db", kind="postgres", sites=("astana",), live_buckets={}, vault=vault,
                      backup_mechanism="pg-dump", archive=archive, delayed_standby=entry)


def test_auto_falls_back_to_the_vault_when_the_standby_replayed_past_t_and_says_why(system_data, monkeypatch):
    monkeypatch.setattr(delayed, "position", lambda server: at(12))
    choice = delayed_command.choose(system_data, T, "core-db-restored", "auto", "http://127.0.0.1:1", None)
    assert choice.restore is None
    assert "cannot reach it" in choice.why_not and "found later than its delay" in choice.why_not


def test_forcing_the_standby_that_cannot_reach_t_is_refused(system_data, monkeypatch):
    monkeypatch.setattr(delayed, "position", lambda server: at(12))
    with pytest.raises(delayed.TooLateError, match=r"--from delayed-standby.*--from vault"):
        delayed_command.choose(system_data, T, "core-db-restored", "delayed-standby", "http://127.0.0.1:1", None)


def test_auto_takes_the_standby_that_reaches_t(system_data, monkeypatch):
    monkeypatch.setattr(delayed, "position", lambda server: at(-2))
    choice = delayed_command.choose(system_data, T, "core-db-restored", "auto", "http://127.0.0.1:1", None)
    assert choice.restore is not None and choice.why_not is None
    assert choice.restore.server.settings["recovery_min_apply_delay"] == "3600s"
    assert choice.restore.base_finished == BASE_FINISHED


def test_a_standby_that_does_not_answer_is_not_relied_on(system_data):
    choice = delayed_command.choose(system_data, T, "core-db-restored", "auto", "http://127.0.0.1:1", None)
    assert choice.restore is None and "does not answer" in choice.why_not


def test_from_vault_leaves_the_standby_alone(system_data, monkeypatch):
    monkeypatch.setattr(delayed, "position", lambda server: pytest.fail("the standby must not be asked"))
    assert delayed_command.choose(system_data, T, "x", "vault", "http://127.0.0.1:1", None).why_not == "--from vault"


def test_a_standby_on_a_vm_is_left_to_the_operator(system_data):
    on_vm = system_data.delayed_standby.model_copy(update={"local": None})
    data = SystemData(**{**system_data.__dict__, "delayed_standby": on_vm})
    choice = delayed_command.choose(data, T, "core-db-restored", "auto", "http://127.0.0.1:1", None)
    assert choice.restore is None and "runs on a VM" in choice.why_not
