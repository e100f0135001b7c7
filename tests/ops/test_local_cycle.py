"""The operations workflow end to end, as an on-call engineer runs it, on a local deployment of kz-prod's
core-db and sessions.

`multidc local up --postgres-mechanism physical-streaming` -> `status` -> `failover --to almaty`
(stopping at each step that needs an operator, confirmed and resumed) -> `failback --to astana` ->
`local down`,
each as its own process, while a client writes to the PostgreSQL system through the endpoints of
the outputs document; no commit acknowledged on a synchronous system is lost.

The stack is kz-prod cut to one synchronous PostgreSQL system (without its backup: archiving is the
ransomware drill's) and its Redis pair, so that two PostgreSQL servers start instead of six; kz-prod's
other systems take the same steps (the drills run them: tests/drill/).
"""

import json

import psycopg

from tests.helpers import run_multidc as multidc
from multidc import project
from multidc.drill.clients import Writer
from multidc.drill.confirm import run_confirming
from multidc.ops.outputs import read_file
from multidc.protection import postgres as pg
from multidc.spec import load_stack

STACK = "cycle-lean"
SYSTEMS = ("core-db",)


def kz_prod_core():
    """kz-prod with core-db (no backup) and sessions only."""
    kz = load_stack("kz-prod", project.root())
    keep = {"core-db": {"backup": None}, "sessions": {}}
    return kz.model_copy(update={"name": STACK, "witness": None,
                                 "systems": [s.model_copy(update=keep[s.name]) for s in kz.systems if s.name in keep]})


def endpoint(database):
    return pg.PgEndpoint(host=database.host, port=database.port, user=database.user,
                         password=database.password.get_secret_value(), dbname=database.database)


def test_local_up_status_failover_failback_down_loses_no_acknowledged_commit(project_copy):
    project_copy.add(STACK, kz_prod_core())
    out = project_copy / "out.json"
    writers = {}
    # PostgreSQL as a self-managed deployment runs it (streaming, pg_rewind); the drill covers logical.
    multidc(project_copy, "local", "up", "--stack", STACK, "--outputs", str(out), "--postgres-mechanism",
            "physical-streaming")
    try:
        document = read_file(out)
        assert document.local and oct(out.stat().st_mode & 0o777) == "0o600"
        status = json.loads(multidc(project_copy, "status", "--stack", STACK, "--outputs", str(out),
                                    "--json").stdout)
        assert status["ok"], status
        core = next(s for s in status["systems"] if s["system"] == "core-db")
        assert core["primary"] == "astana" and core["replication"][0]["sync_state"] == "sync"

        for name in SYSTEMS:
            placements = document.systems[name].placements
            primary, standby = endpoint(placements["astana"].database), endpoint(placements["almaty"].database)
            with psycopg.connect(pg.conninfo(primary), autocommit=True) as conn:
                conn.execute("CREATE TABLE drill (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())")
            writers[name] = Writer(psycopg.conninfo.make_conninfo(
                host=f"{primary.host},{standby.host}", port=f"{primary.port},{standby.port}", user=primary.user,
                password=primary.password, dbname=primary.dbname, target_session_attrs="read-write"))
            writers[name].start()
        pg_wait = [w for w in writers.values()]
        for writer in pg_wait:
            for _ in range(500):
                if len(writer.acks) >= 50:
                    break
                writer.stop.wait(0.02)

        failover = ["failover", "--stack", STACK, "--to", "almaty", "--outputs", str(out), "--yes", "--json"]
        stopped = json.loads(multidc(project_copy, *failover, expect=3).stdout)
        states = {s["step"]: s["status"] for s in stopped["steps"]}
        assert stopped["result"] == "needs-operator" and stopped["not_performed"] > 0
        assert states["2.manual.isolate.astana"] == "needs-operator", "nobody isolated astana: not done"
        assert states["2.db.fence.core-db"] == "done" and states["3.db.promote.core-db"] == "not run"
        waiting = sorted(step for step, state in states.items() if state == "needs-operator")
        assert waiting == ["2.manual.isolate.astana"], "redis runs locally (REPLICAOF): fenced for real"
        assert " ".join(f"--confirm {step}" for step in waiting) in stopped["resume"]

        resumed = json.loads(multidc(project_copy, *failover, "--resume", *(f"--confirm={s}" for s in waiting),
                                     expect=3).stdout)
        states = {s["step"]: s["status"] for s in resumed["steps"]}
        assert states["2.manual.isolate.astana"] == "confirmed" and states["2.db.fence.core-db"] == "done"
        assert states["3.db.promote.core-db"] == "done"
        assert states["3.db.promote.sessions"] == "done", "redis runs locally (REPLICAOF): promoted for real"

        over, confirmed = run_confirming(lambda *args, check: multidc(project_copy, *args, expect=None), failover,
                                         "multidc failover")
        assert over["result"] == "success" and over["not_performed"] == 0
        assert {s["status"] for s in over["steps"]} <= {"done", "skipped", "confirmed"}
        assert any(line.startswith("5.dns.switch.core-db") for line in confirmed)
        after = json.loads(multidc(project_copy, "status", "--stack", STACK, "--outputs", str(out), "--json",
                                   expect=1).stdout)
        core = next(s for s in after["systems"] if s["system"] == "core-db")
        assert core["primary"] == "almaty", "who is primary is probed live, not read from the file"

        back = json.loads(multidc(project_copy, "failback", "--stack", STACK, "--to", "astana", "--outputs",
                                  str(out), "--yes", "--json", expect=3).stdout)
        assert back["result"] == "needs-operator"
        back, _ = run_confirming(lambda *args, check: multidc(project_copy, *args, expect=None),
                                 ["failback", "--stack", STACK, "--to", "astana", "--outputs", str(out), "--yes",
                                  "--json"], "multidc failback")
        assert back["result"] == "success"
        final = json.loads(multidc(project_copy, "status", "--stack", STACK, "--outputs", str(out),
                                   "--json").stdout)
        assert final["ok"], final
        for name, writer in writers.items():
            writer.halt()
            serving = endpoint(document.systems[name].placements["astana"].database)
            with psycopg.connect(pg.conninfo(serving), autocommit=True) as conn:
                present = {row[0] for row in conn.execute("SELECT id FROM drill")}
            acknowledged = writer.acked_ids()
            assert len(acknowledged) > 50
            assert acknowledged - present == set(), f"{name}: acknowledged commits lost"
    finally:
        for writer in writers.values():
            writer.halt()
        multidc(project_copy, "local", "down", "--stack", STACK)
    assert not (project_copy / ".multidc" / "local" / STACK).exists()
