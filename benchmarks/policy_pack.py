"""How long the policy pack takes over a stack: process start, every Analyze, AnalyzeStack.

For kz-prod and for a synthetic stack of about 5,000 resources (plan_scale's largest shape,
planned by the real program) it prints the end-to-end wall time of `run_policy_pack` (start
the pack process, GetAnalyzerInfo, Configure, one Analyze per resource, one AnalyzeStack,
stop), the part spent analyzing, and, measured apart in the same run, the analyzer
protocol's own cost: the same pack through the same client with every policy disabled
(`{"all": "disabled"}`), i.e. building and sending the requests, gRPC, and the SDK's own
work per request. `policies ms/res` is what the rules add on top of it; median of --repeat.
Run: `.venv/bin/python benchmarks/policy_pack.py`.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_scale import synthetic_spec  # noqa: E402

from multidc.plan.analyzer import run_policy_pack  # noqa: E402
from multidc.plan.capture import plan  # noqa: E402
from multidc.plan.graph import ResourceGraph  # noqa: E402
from multidc.spec import load_stack, parse_platform  # noqa: E402


NO_POLICIES = {"all": "disabled"}


def measure(name: str, graph: ResourceGraph, repeat: int) -> None:
    totals, analyzing, protocol = [], [], []
    for _ in range(repeat):
        protocol.append(run_policy_pack(graph, config=NO_POLICIES).seconds)
        start = time.perf_counter()
        report = run_policy_pack(graph)
        totals.append(time.perf_counter() - start)
        analyzing.append(report.seconds)
    total, inner, floor = statistics.median(totals), statistics.median(analyzing), statistics.median(protocol)
    per = 1e3 / len(graph)
    print(f"{name:<20} {len(graph):>9} {total:>8.2f} {inner:>11.2f} {floor:>10.2f} {inner * per:>7.2f} "
          f"{floor * per:>9.2f} {(inner - floor) * per:>9.2f}  {report.summary}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'stack':<20} {'resources':>9} {'total s':>8} {'analyzing s':>11} {'protocol s':>10} {'ms/res':>7} "
          f"{'protocol':>9} {'policies':>9}")
    measure("kz-prod", plan(load_stack("kz-prod"), "kz-prod"), args.repeat)
    spec = synthetic_spec(10, 17, 21)
    measure("synthetic 10 sites", plan(parse_platform(spec, "synthetic"), spec["name"]), args.repeat)


if __name__ == "__main__":
    main()
