"""The local etcd cluster `multidc local up` starts: detached members another process controls by their record."""

from multidc.local.etcd import LocalEtcd
from multidc.local.postgres import _pid_alive


def test_detached_members_are_killed_and_brought_back_by_another_process_from_their_record():
    cluster = LocalEtcd(["astana", "almaty", "karaganda"], detached=True).start()
    other = LocalEtcd.attach(cluster.record())  # what `local kill` / `local start` do from state.json
    try:
        other.kill("astana")
        assert not other.alive("astana") and other.alive("almaty")
        other.start("astana")  # rejoins with its data directory
        assert other.healthy("astana") and other.alive("astana")
    finally:
        pids = list(other.pids.values())
        other.stop()  # `local down`: every member, by its pid
        cluster.stop()
    assert pids and not any(_pid_alive(pid) for pid in pids)
