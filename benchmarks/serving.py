"""Serving engines for the churn model, side by side, against the users' 10,000 requests per
minute on 2 CPU / 2 GB (5,000 per CPU) and issue 14's targets for the engine the template ships.

    make system-deps && .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/serving.py [--engines mlflow,mlserver,mlserver-v2,multidc]
        [--model both] [--duration 15] [--connections 16] [--cpus 1] [--mlserver-venv DIR] [--json]

1. Trains a churn classifier on 50 synthetic features and logs it with MLflow into a local store
   (SQLite and a directory) in a temporary directory. Two kinds: ``logistic-regression`` (what is
   left is the server's own cost) and ``gradient-boosting`` (HistGradientBoosting, 200 trees).
2. Serves it with each engine in turn (``serving_engines``), pinned to ``--cpus`` CPUs; this
   process and its load generator are pinned to the others, so the two never share a CPU.
3. Drives it with one customer (50 values) per request (``serving_load``):
   saturation  ``wrk`` with ``--connections`` clients back to back: requests per minute per CPU;
   reference   an open loop at the users' rate scaled to the CPUs (10,000/min per 2 CPUs), latency
               counted from each request's scheduled time: p50/p95/p99;
   and samples the server's resident memory (all its processes) for the peak.

Baselines in the same run: the model's own ``predict`` and MLflow's request handling without
HTTP, as CPU time per request in this process; and ``mlflow models serve`` itself, to which every
engine's rate is a ratio. The machine's load average is printed: other processes lower the rates.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from serving_engines import ENGINES, engine, mlserver_python, stop, v2_body  # noqa: E402
from serving_load import Phase, open_loop, saturate  # noqa: E402

FEATURES = 50
USERS_RATE_PER_MINUTE = 10_000  # on 2 CPUs
USERS_CPUS = 2
SHIPPED_ENGINE = "multidc"
TARGETS = {"logistic-regression": 50_000, "gradient-boosting": 10_000}  # requests/min per CPU
TARGET_P99_MS = 50.0
TARGET_RSS_MIB = 2048
READY_TIMEOUT_SECONDS = 180.0
MODELS = ("logistic-regression", "gradient-boosting")
TRUSTED_TREE = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"

say = print


def train_and_log(workdir: Path, kind: str, seed: int):
    """Train the classifier, log it to a local MLflow store; return (model, local model dir, one row)."""
    import mlflow
    import mlflow.sklearn
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = make_classification(n_samples=20_000, n_features=FEATURES, n_informative=20, weights=[0.8],
                               random_state=seed)
    frame = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(FEATURES)])
    if kind == "gradient-boosting":
        classifier = HistGradientBoostingClassifier(max_iter=200, random_state=seed).fit(frame, y)
    else:
        classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(frame, y)
    # SQLite for runs (MLflow 3 keeps its file store in maintenance mode), a directory for artifacts.
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = mlflow.create_experiment(f"churn-60d-{kind}", artifact_location=(workdir / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        # The model was built just above, so its tree predictor type is trusted for skops loading.
        info = mlflow.sklearn.log_model(
            classifier, name="model", input_example=frame.iloc[:2],
            skops_trusted_types=[TRUSTED_TREE] if kind == "gradient-boosting" else None)
    local = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(workdir / f"served-{kind}"))
    return classifier, Path(local), frame.iloc[:1]


def cpu_ms_per_call(call, seconds: float = 2.0) -> float:
    """CPU milliseconds one ``call()`` takes in this process, on one thread."""
    from threadpoolctl import threadpool_limits

    count, started, cpu = 0, time.perf_counter(), time.process_time()
    with threadpool_limits(1):
        while time.perf_counter() - started < seconds:
            call()
            count += 1
    return (time.process_time() - cpu) / count * 1000


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        tree.append(current)
        frontier.extend(children.get(current, []))
    return tree


def _proc_sum(pid: int, read) -> float:
    total = 0.0
    for member in process_tree(pid):
        try:
            total += read(Path("/proc") / str(member))
        except (OSError, IndexError, ValueError):
            pass
    return total


def tree_rss(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, in bytes."""
    # A zombie (an exited worker not yet reaped) has no VmRSS line: it counts as nothing.
    return _proc_sum(pid, lambda proc: next((int(line.split()[1]) * 1024 for line in (proc / "status").read_text()
                                             .splitlines() if line.startswith("VmRSS:")), 0))


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its live descendants."""
    return _proc_sum(pid, lambda proc: sum(map(int, (proc / "stat").read_text().rsplit(")", 1)[1].split()[11:13]))
                     ) / os.sysconf("SC_CLK_TCK")


class PeakMemory(threading.Thread):
    """Samples the server's resident memory every quarter second; ``peak`` is the largest seen."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            self.peak = max(self.peak, tree_rss(self.pid))


def wait_ready(url: str, server, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}: {log.read_text()[-1500:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"not ready within {READY_TIMEOUT_SECONDS:.0f}s: {log.read_text()[-1500:]}")


def run_engine(spec, cpus: set[int], generator: set[int], workdir: Path, options) -> dict:
    """Start one engine, load it, stop it; its figures as a result row."""
    log = workdir / f"{spec.name}-{time.monotonic_ns()}.log"
    server = spec.start(cpus, log)
    try:
        wait_ready(spec.ready_url, server, log)
        memory = PeakMemory(server.pid)
        memory.start()
        saturate(spec.url, spec.body, options.connections, 3, generator, workdir)  # warm-up, not reported
        cpu = tree_cpu_seconds(server.pid)
        saturation = saturate(spec.url, spec.body, options.connections, options.duration, generator, workdir)
        saturation.server_cpu, cpu = tree_cpu_seconds(server.pid) - cpu, tree_cpu_seconds(server.pid)
        rate = USERS_RATE_PER_MINUTE / USERS_CPUS * len(cpus)
        reference = open_loop(spec.url, spec.body, rate, options.duration)
        reference.server_cpu = tree_cpu_seconds(server.pid) - cpu
        memory.done.set()
        memory.join()
    finally:
        stop(server)
    peak = max(memory.peak, 0.0) / 2**20
    say(f"  {spec.name:<12} {spec.setting}")
    say("    " + saturation.line("saturation") + f" ({options.connections} connections)")
    say("    " + reference.line("reference") + f" (open loop, {rate:,.0f}/min scheduled)")
    say(f"    memory      peak resident {peak:,.0f} MiB (all the server's processes)")
    return {"rpm_per_cpu": round(saturation.per_minute / len(cpus)), "p50_ms": round(reference.p50_ms, 2),
            "p95_ms": round(reference.p95_ms, 2), "p99_ms": round(reference.p99_ms, 2), "rss_mib": round(peak),
            "saturation_p99_ms": round(saturation.p99_ms, 2), "errors": saturation.errors + reference.errors,
            "server_cpu_ms_per_request": round(saturation.server_cpu / max(saturation.requests, 1) * 1000, 3),
            # What a whole CPU would serve at the CPU per request measured: the rate with the
            # machine's other load taken out (the server may get less than its pinned CPU).
            "rpm_per_cpu_used": round(saturation.requests / saturation.server_cpu * 60) if saturation.server_cpu else 0,
            "generator_cpu": round(saturation.generator_cpu / saturation.seconds, 2),
            "reference_rpm": round(reference.per_minute), "reference_scheduled": reference.scheduled}


def measure(kind: str, workdir: Path, options, cpus: set[int], generator: set[int], mlserver) -> list[dict]:
    from mlflow.pyfunc import load_model, scoring_server

    classifier, model_dir, row = train_and_log(workdir, kind, options.seed)
    body = json.dumps({"dataframe_split": row.to_dict(orient="split")}).encode()
    v2 = v2_body(list(row.columns), row.iloc[0].tolist())
    say(f"\n== {kind}: {FEATURES} features, one customer per request; server on CPU(s) {sorted(cpus)}, "
        f"load generator on {sorted(generator)}")
    pyfunc = load_model(str(model_dir))
    model_ms = cpu_ms_per_call(lambda: classifier.predict(row))
    mlflow_ms = cpu_ms_per_call(lambda: scoring_server.invocations(
        body, "application/json", pyfunc, pyfunc.metadata.get_input_schema()))
    say(f"  baseline     model predict {model_ms:.2f} ms CPU/request; MLflow's handling without HTTP "
        f"{mlflow_ms:.2f} ms CPU/request (in-process, one thread)")
    rows = []
    for name in options.engines:
        if name.startswith("mlserver") and mlserver is None:
            continue
        spec = engine(name, model_dir, workdir, body, v2, workers=len(cpus), mlflow_workers=options.mlflow_workers,
                      max_batch=options.max_batch, mlserver=mlserver)
        try:
            figures = run_engine(spec, cpus, generator, workdir, options)
        except RuntimeError as error:
            say(f"  {name:<12} not measured: {error}")
            continue
        rows.append({"engine": name, "model": kind, **figures})
    return rows


def main() -> None:
    global say
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, from " + ", ".join(ENGINES))
    parser.add_argument("--model", choices=[*MODELS, "both"], default="both")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per load phase")
    parser.add_argument("--connections", type=int, default=16, help="wrk clients in the saturation phase")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs the server is pinned to")
    parser.add_argument("--mlflow-workers", type=int, default=2, help="mlflow models serve --workers")
    parser.add_argument("--max-batch", type=int, default=64, help="rows per batch (multidc, MLServer)")
    parser.add_argument("--mlserver-venv", type=Path, help="a virtualenv with mlserver and mlserver-mlflow")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="figures as JSON on stdout (the text goes to stderr)")
    options = parser.parse_args()
    # A SIGTERM unwinds like an exception, so every server started is stopped (``run_engine``'s finally).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    options.engines = [name.strip() for name in options.engines.split(",") if name.strip()]
    unknown = sorted(set(options.engines) - set(ENGINES))
    if unknown:
        parser.error(f"--engines: unknown {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    if options.json:
        say = lambda *args, **kwargs: print(*args, file=sys.stderr, **kwargs)  # noqa: E731
    available = sorted(os.sched_getaffinity(0))
    if len(available) <= options.cpus:
        parser.error(f"--cpus {options.cpus}: this machine gives {len(available)} CPU(s); the load generator "
                     "needs one the server does not use: pass a smaller --cpus")
    cpus, generator = set(available[:options.cpus]), set(available[options.cpus:])
    load_before = os.getloadavg()
    kinds = MODELS if options.model == "both" else (options.model,)
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="multidc-serving-") as tmp:
        mlserver, note = None, "MLServer not asked for"
        if any(name.startswith("mlserver") for name in options.engines):
            mlserver, note = mlserver_python(options.mlserver_venv, Path(tmp))
        say(f"machine load average {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f} "
            f"(1/5/15 min) on {os.cpu_count()} CPUs; {note}")
        os.sched_setaffinity(0, generator)
        for kind in kinds:
            results.extend(measure(kind, Path(tmp), options, cpus, generator, mlserver))
    load_after = os.getloadavg()
    say(f"\nmachine load average {load_after[0]:.2f} at the end (other processes' load lowers the rates)")
    reference_per_cpu = USERS_RATE_PER_MINUTE / USERS_CPUS
    baseline = {row["model"]: row["rpm_per_cpu"] for row in results if row["engine"] == "mlflow"}
    say(f"requests/min per CPU at saturation; the users' figure is {reference_per_cpu:,.0f} per CPU")
    for row in results:
        ratio = row["rpm_per_cpu"] / baseline[row["model"]] if baseline.get(row["model"]) else None
        row["ratio_to_mlflow"] = round(ratio, 2) if ratio else None
        say(f"  {row['model']:<20} {row['engine']:<12} {row['rpm_per_cpu']:>8,}/min per CPU "
            f"({row['rpm_per_cpu'] / reference_per_cpu:5.1f}x the users', "
            f"{'%.1fx' % ratio if ratio else 'n/a'} mlflow models serve; {row['rpm_per_cpu_used']:,}/min per CPU "
            f"used); reference load p99 {row['p99_ms']:.1f} ms; peak {row['rss_mib']:,} MiB")
    for row in results:
        if row["engine"] == SHIPPED_ENGINE:
            met = (row["rpm_per_cpu"] >= TARGETS[row["model"]] and row["p99_ms"] <= TARGET_P99_MS
                   and row["rss_mib"] < TARGET_RSS_MIB)
            say(f"target {row['model']}: >= {TARGETS[row['model']]:,}/min per CPU, p99 <= {TARGET_P99_MS:.0f} ms, "
                f"< {TARGET_RSS_MIB} MiB: {'met' if met else 'MISSED'}")
    if options.json:
        print(json.dumps({"shipped_engine": SHIPPED_ENGINE, "server_cpus": len(cpus),
                          "load_average": {"start": load_before, "end": load_after},
                          "users_rpm_per_cpu": reference_per_cpu, "results": results}, indent=2))


if __name__ == "__main__":
    main()
