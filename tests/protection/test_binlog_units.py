"""The binlog archive's own code, without servers: the programs it runs, reading the vault, the restore's cut."""

import datetime as dt
import struct

import pytest

from multidc.protection import binlog_archive as archive
from multidc.protection import binlog_pitr as pitr

UTC = dt.timezone.utc


def _event(timestamp: int, kind: int = 2, body: bytes = b"x" * 10) -> bytes:
    size = 19 + len(body)
    return struct.pack("<IBIIIH", timestamp, kind, 1, size, 0, 0) + body


def _file(*timestamps: int) -> bytes:
    return archive.MAGIC + b"".join(_event(t) for t in timestamps)


def test_the_streamer_is_a_raw_replication_client_that_never_stops_and_resumes_from_its_newest_file():
    script = archive.streamer_script()
    assert ("mariadb-binlog --protocol=TCP --host=\"$DB_HOST\" --port=\"$DB_PORT\" --user=\"$DB_USER\" "
            "--read-from-remote-server --raw --stop-never --stop-never-slave-server-id=1000042") in script
    assert '"${last:-$first}"' in script and "SHOW BINARY LOGS" in script
    assert "MYSQL_PWD" not in script and "--password" not in script  # the password comes from the environment
    mysql = archive.streamer_script(archive.MYSQL)
    assert "mysqlbinlog" in mysql and "--connection-server-id=1000042" in mysql and "mariadb" not in mysql


def test_the_uploader_sends_each_files_new_bytes_as_a_piece_named_by_its_offset():
    script = archive.uploader_script()
    assert 'tail -c +$((sent + 1)) "$path" | head -c $((size - sent)) > .piece' in script
    assert 'rclone copyto .piece "$DEST/$sid/$file/$(printf %012d "$sent")"' in script
    # The offset advances only after the upload succeeded: a failed piece is sent again next round.
    assert '&& echo "$size" > "$mark"' in script and "delete" not in script and "sync" not in script


def test_the_base_backup_records_its_binlog_position_and_is_named_once_complete():
    script = archive.dump_script()
    assert "mariadb-dump" in script and "--single-transaction --master-data=2 --gtid" in script
    assert "set -euo pipefail" in script
    assert script.rstrip().endswith('"$BACKUP_DIR/dump-$(date -u +%Y%m%dT%H%M%SZ)-s$sid.sql.gz"')
    assert archive.parse_dump_key("mysql-binlog/catalog/base/dump-20261202T031500Z-s3306.sql.gz") == (
        dt.datetime(2026, 12, 2, 3, 15, tzinfo=UTC), 3306)
    assert archive.parse_dump_key("mysql-binlog/catalog/base/dump.partial") is None


def test_the_archive_lag_bound_is_the_interval_and_one_upload():
    assert archive.lag_bound_s(5) == 5 + archive.BINLOG_UPLOAD_ALLOWANCE_S


def test_events_leave_out_a_partial_last_event():
    data = _file(100, 101, 102)
    assert [e.timestamp for e in archive.events(data[:-3])] == [100, 101]
    assert archive.whole_events(data[:-3]) == _file(100, 101)
    with pytest.raises(archive.BinlogArchiveError, match="not a binlog"):
        archive.events(b"garbage")


def test_pieces_reassemble_a_file_even_overlapping_and_a_gap_is_refused():
    data = _file(100, 101, 102)
    assert archive.assemble("binlog.000001", [(0, data[:40]), (40, data[40:])]) == data
    assert archive.assemble("binlog.000001", [(0, data[:40]), (0, data[:50]), (50, data[50:])]) == data  # restarted
    with pytest.raises(archive.BinlogArchiveError, match="lacks bytes 40..44"):
        archive.assemble("binlog.000001", [(0, data[:40]), (45, data[45:])])


def test_the_archive_reaches_time_only_with_an_event_in_or_after_its_second():
    t = dt.datetime.fromtimestamp(200.7, UTC)
    files = {"binlog.000001": _file(100, 199), "binlog.000002": _file(199)}
    assert not archive.holds(files, "binlog.000001", 4, t)
    assert archive.holds({**files, "binlog.000002": _file(199, 200)}, "binlog.000001", 4, t)  # second 200 < T
    # Events before the base backup's position do not count.
    assert not archive.holds({"binlog.000001": _file(250, 100)}, "binlog.000001", 4 + 29, t)


def test_stop_datetime_cuts_time_down_to_its_second_in_utc():
    t = dt.datetime(2026, 12, 2, 8, 15, 30, 999_000, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    assert pitr.stop_datetime(t) == "2026-12-02 03:15:30"
    assert pitr.binlog_command([pitr.Path("/a/binlog.000007")], 328, t) == [
        "mariadb-binlog", "--start-position=328", "--stop-datetime=2026-12-02 03:15:30", "/a/binlog.000007"]


def test_the_newest_base_backup_finished_before_time_is_chosen_and_none_is_too_early():
    dumps = [archive.BaseDump(f"base/dump-{h}", dt.datetime(2026, 12, 2, h, tzinfo=UTC), 1, 10) for h in (1, 5)]
    assert pitr.choose(dumps, dt.datetime(2026, 12, 2, 6, tzinfo=UTC), "vault").key == "base/dump-5"
    assert pitr.choose(dumps, dt.datetime(2026, 12, 2, 5, tzinfo=UTC), "vault").key == "base/dump-1"
    with pytest.raises(pitr.TooEarlyError, match="the oldest is base/dump-1"):
        pitr.choose(dumps, dt.datetime(2026, 12, 2, 1, tzinfo=UTC), "vault")


def test_the_dump_position_is_read_from_its_end():
    dump = (b"-- MariaDB dump\n" + b"INSERT ...;\n" * 10000 + b"-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000003', "
            b"MASTER_LOG_POS=1456;\n-- SET GLOBAL gtid_slave_pos='0-3306-6';\n")
    assert pitr.dump_position(dump) == pitr.Position("binlog.000003", 1456, "0-3306-6")
    with pytest.raises(archive.BinlogArchiveError, match="no binlog position"):
        pitr.dump_position(b"-- dump without --master-data\n")


DECODED = """\
# at 325
#261202  3:28:13 server id 43951  end_log_pos 367 CRC32 0x1dbc7ca3 \tGTID 0-43951-1 ddl
# at 367
#261202  3:28:13 server id 43951  end_log_pos 452 CRC32 0xa8e64963 \tQuery\tthread_id=7\texec_time=0\terror_code=0
CREATE DATABASE app
# at 605
#261202  3:28:13 server id 43951  end_log_pos 647 CRC32 0x26b1b260 \tGTID 0-43951-3 trans
START TRANSACTION
# at 779
#261202  3:28:14 server id 43951  end_log_pos 810 CRC32 0x3d0e6fd3 \tXid = 13
COMMIT/*!*/;
# at 810
#261202  3:28:15 server id 43951  end_log_pos 852 CRC32 0x9657677b \tGTID 0-43951-4 trans
START TRANSACTION
# at 946
#261202  3:28:15 server id 43951  end_log_pos 984 CRC32 0x5e02762b \tWrite_rows: table id 18 flags: STMT_END_F
ROLLBACK /* added by mysqlbinlog */ /*!*/;
"""


def test_the_last_committed_transaction_is_read_from_the_decoded_binlog_and_an_interrupted_one_is_not():
    applied = pitr.last_committed(DECODED, pitr.Position("binlog.000001", 325, None))
    assert applied == pitr.Applied("binlog.000001:325", "binlog.000001:810", "0-43951-3",
                                   dt.datetime(2026, 12, 2, 3, 28, 14, tzinfo=UTC), 2)


def test_the_range_follows_the_binlog_into_the_next_file():
    rotated = DECODED.replace("# at 810\n", "#261202  3:28:14 server id 43951  end_log_pos 1370 CRC32 0x0 \tRotate "
                                           "to binlog.000002  pos: 4\n", 1).replace("end_log_pos 852", "end_log_pos 256")
    rotated += ("#261202  3:28:15 server id 43951  end_log_pos 298 CRC32 0x0 \tGTID 0-43951-5 trans\n"
                "#261202  3:28:15 server id 43951  end_log_pos 400 CRC32 0x0 \tXid = 20\nCOMMIT/*!*/;\n")
    applied = pitr.last_committed(rotated, pitr.Position("binlog.000001", 325, None))
    assert (applied.last, applied.last_gtid, applied.transactions) == ("binlog.000002:400", "0-43951-5", 3)
