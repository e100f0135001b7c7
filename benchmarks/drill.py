"""The DR drill, repeated: median and worst RTO per system and the RPO seen, per replication mode and trigger.

Each run is one `multidc drill`: `multidc local up` starts the stack's PostgreSQL pairs, S3
endpoints and copy jobs, clients write continuously, every process of the primary site gets
SIGKILL at a random moment, and the production `multidc failover --outputs FILE` runs as a
subprocess (multidc.drill.site_loss); RTO therefore includes that command's start-up. The headline RTO
of a run is its worst system's. The `declared` trigger (the operator fails over at once) is the
same-run baseline of the `automatic` one (`multidc watch` per site on a local etcd cluster: the
standby's watcher takes the expired lease and runs the failover itself): the difference is
detection, i.e. the lease TTL (3 s), a possible etcd election and one watch round. Mode `own`
keeps each system's replication mode; `sync` or `async` imposes one on all. Target: automatic
RTO at most 10 s from the kill, lease TTL included. Anchor, cited, not measured here: Patroni's
defaults, ttl 30 s ("the length of time before initiation of the automatic failover process"),
loop_wait 10 s, retry_timeout 10 s (patroni.readthedocs.io, dynamic_configuration.html): a
replica starts promoting up to about ttl + loop_wait = 40 s after the primary's node is lost.
RDS Multi-AZ takes 60-120 s. A benchmark, not a test: it prints figures and never fails on a
slow machine.

    PYTHONPATH=. .venv/bin/python benchmarks/drill.py --stack kz-prod --runs 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from multidc import project
from multidc.drill.report import DrillError, summary
from multidc.drill.site_loss import run_drill
from multidc.spec import load_stack

# Patroni's documented defaults (https://patroni.readthedocs.io/en/latest/dynamic_configuration.html): ttl "the TTL
# to acquire the leader lock (in seconds). Think of it as the length of time before initiation of the automatic
# failover process. Default value: 30"; loop_wait "the number of seconds the loop will sleep. Default value: 10";
# retry_timeout "Default value: 10". The leader key expires ttl after the last renewal; a replica acts on its next
# loop at the latest: up to ttl + loop_wait.
PATRONI_DEFAULTS = {"ttl_s": 30, "loop_wait_s": 10, "retry_timeout_s": 10, "worst_detection_s": 40}
ANCHORS = {"Patroni defaults (ttl 30 s + loop_wait 10 s), detection alone": "up to ~40 s", "RDS Multi-AZ": "60-120 s"}
TARGETS = {"automatic, from the kill (lease TTL included)": 10.0, "declared, from the command": 2.0}


def _ms(seconds: float | None) -> str:
    return "     -" if seconds is None else f"{seconds * 1000:6.0f}"


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="kz-prod")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--modes", default="own", help="comma-separated: own (each system's), sync, async")
    parser.add_argument("--triggers", default="declared,automatic")
    parser.add_argument("--failback", action="store_true", help="also fail back after each run (slower)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    platform = load_stack(args.stack, project.root())
    report = {"stack": args.stack, "anchors": ANCHORS, "patroni_defaults": PATRONI_DEFAULTS, "targets_s": TARGETS,
              "results": []}
    for mode in args.modes.split(","):
        for trigger in args.triggers.split(","):
            results, failed = [], []
            for run in range(args.runs):
                try:
                    result = run_drill(platform, args.stack, mode=None if mode == "own" else mode, trigger=trigger,
                                       seed=run, failback=args.failback)
                except DrillError as error:  # a run that could not finish is counted, never dropped silently
                    failed.append(str(error).splitlines()[0])
                    print(f"  {mode} {trigger} run {run + 1}/{args.runs}: FAILED: {failed[-1]}", flush=True,
                          file=sys.stderr if args.json else sys.stdout)
                    continue
                results.append(result)
                print(f"  {mode} {trigger} run {run + 1}/{args.runs}: RTO from the kill {_s(result.rto_from_kill_s)} "
                      f"(worst system {result.worst.system if result.worst else '-'}), detection "
                      f"{_s(result.detection_s)}, fencing token {result.fencing_token}, acknowledged commits lost "
                      f"{result.rpo_commits}", flush=True, file=sys.stderr if args.json else sys.stdout)
            if not results:
                print(f"{mode} {trigger}: every run failed", flush=True)
                continue
            figures = summary(results)
            figures["failed_runs"] = failed
            automatic = trigger == "automatic"
            figures.update(mode=mode, trigger=trigger,
                           detection_median_s=statistics.median(r.detection_s for r in results) if automatic else None,
                           detection_worst_s=max(r.detection_s for r in results) if automatic else None,
                           fencing_tokens=[r.fencing_token for r in results] if automatic else None)
            report["results"].append(figures)
            if args.json:
                continue
            print(f"{mode:5} {trigger:9} runs={figures['runs']:2} (failed: {len(failed)})  headline (worst system) RTO from kill: median "
                  f"{_ms(figures['rto_from_kill_median_s'])} ms, worst {_ms(figures['rto_from_kill_worst_s'])} ms;"
                  f"  old primaries fenced every time: {figures['fenced_every_time']}", flush=True)
            for name, system in figures["systems"].items():
                what = "failover" if system["failed_over"] else "standby lost, writes after the kill"
                print(f"    {name:10} {system['mode']:5} {what}: RTO from kill median "
                      f"{_ms(system['rto_from_kill_median_s'])} ms, worst {_ms(system['rto_from_kill_worst_s'])} ms;"
                      f" from command median {_ms(system['rto_from_command_median_s'])} ms, worst "
                      f"{_ms(system['rto_from_command_worst_s'])} ms;  acknowledged commits lost per run: "
                      f"{system['rpo_commits']}", flush=True)
            if automatic:
                print(f"    automatic RTO (headline, from the kill, lease TTL included): median "
                      f"{_s(figures['rto_from_kill_median_s'])}, worst {_s(figures['rto_from_kill_worst_s'])} "
                      f"(target <= 10 s); detection (kill -> the standby's watcher holds the lease): median "
                      f"{_s(figures['detection_median_s'])}, worst {_s(figures['detection_worst_s'])}; fencing tokens "
                      f"{figures['fencing_tokens']}", flush=True)
                print(f"    Patroni's defaults (cited, not measured here): ttl {PATRONI_DEFAULTS['ttl_s']} s, loop_wait "
                      f"{PATRONI_DEFAULTS['loop_wait_s']} s, retry_timeout {PATRONI_DEFAULTS['retry_timeout_s']} s: "
                      f"detection alone up to ~{PATRONI_DEFAULTS['worst_detection_s']} s", flush=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("anchors (not measured here): " + "; ".join(f"{k} {v}" for k, v in ANCHORS.items()))
        print("targets: RTO <= 10 s from the kill, lease TTL included (automatic), <= 2 s from the command "
              "(declared); 0 acknowledged commits lost in sync mode")


if __name__ == "__main__":
    main()
