"""A served churn model on 2 CPUs, against the users' 10,000 requests per minute on 2 CPU / 2 GB.

    .venv/bin/python benchmarks/serving.py [--model both] [--duration 20] [--concurrency 16] [--rate 10000]

Needs the ``bench`` extra (``pip install -e '.[bench]'``: mlflow, scikit-learn).

1. Trains a churn classifier on 50 synthetic features, logs it with MLflow into a local store
   (SQLite and a directory) in a temporary directory. Two kinds, each served and measured in
   turn: ``logistic-regression`` (the lightest model: what is left is the server's own cost)
   and ``gradient-boosting`` (scikit-learn HistGradientBoosting, 200 trees: a typical churn model).
2. Serves it with the command, worker count, CPU limit and environment of the serving template
   (``multidc.components.ml_platform.model_server_container`` for kz-prod's ``churn-60d``):
   ``mlflow models serve --workers N`` pinned with ``sched_setaffinity`` to as many CPUs as
   the template's limit, on 127.0.0.1 and a free port.
3. Drives ``POST /invocations`` (one customer, 50 values, per request) on loopback:
   saturation  ``--concurrency`` clients back to back for ``--duration`` seconds;
   target      an open loop at ``--rate`` requests/minute for ``--duration`` seconds.
   Each phase is bounded by its duration and by ``--max-requests``.

Baselines, in the same run and process, one thread, as CPU time per request: the model's own
``predict_proba`` on the same row(s), and MLflow's request handling without HTTP (JSON in,
schema enforcement, predict, JSON out), so where a request's cost goes is visible. The load generator runs on the same
machine; when the server is pinned to every CPU there is, the two compete: the output says so
and gives the CPU the load generator used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from multidc.components.ml_platform import model_server_args, model_server_container  # noqa: E402
from multidc.spec import load_stack  # noqa: E402

FEATURES = 50
USERS_RATE_PER_MINUTE = 10_000
READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 10.0


def served_model():
    """kz-prod's churn model as the spec declares it, and the container the template builds."""
    model = load_stack("kz-prod").system("ml").ml.models[0]
    return model, model_server_container(model, tracking_uri="http://unused")


MODELS = ("logistic-regression", "gradient-boosting")
TRUSTED_TREE = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def train_and_log(workdir: Path, kind: str, seed: int, rows: int = 1):
    """Train the classifier, log it to a local MLflow store; return (model, local model URI, ``rows`` rows)."""
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
    columns = [f"f{i:02d}" for i in range(FEATURES)]
    frame = pd.DataFrame(x, columns=columns)
    if kind == "gradient-boosting":
        classifier = HistGradientBoostingClassifier(max_iter=200, random_state=seed).fit(frame, y)
    else:
        classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(frame, y)
    # A local store: SQLite for runs (MLflow 3 keeps its file store in maintenance mode), a
    # directory for artifacts.
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = mlflow.create_experiment(f"churn-60d-{kind}", artifact_location=(workdir / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        # The model was built just above, so its tree predictor type is trusted for skops loading.
        info = mlflow.sklearn.log_model(
            classifier, name="model", input_example=frame.iloc[:2],
            skops_trusted_types=[TRUSTED_TREE] if kind == "gradient-boosting" else None)
    local = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(workdir / f"served-{kind}"))
    return classifier, Path(local).as_uri(), frame.iloc[:rows]


def cpu_ms_per_call(call, seconds: float = 3.0) -> float:
    """CPU milliseconds one ``call()`` takes in this process, on one thread (CPU time, not wall
    time, so other processes on the machine matter less)."""
    from threadpoolctl import threadpool_limits

    count, started, cpu = 0, time.perf_counter(), time.process_time()
    with threadpool_limits(1):
        while time.perf_counter() - started < seconds:
            call()
            count += 1
    return (time.process_time() - cpu) / count * 1000


def scoring_path(model_uri: str, body: bytes):
    """MLflow's own request handling without HTTP: parse the JSON, enforce the schema, predict,
    write the JSON answer (``mlflow.pyfunc.scoring_server.invocations``, an internal function)."""
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    model = mlflow.pyfunc.load_model(model_uri)
    schema = model.metadata.get_input_schema()
    return lambda: scoring_server.invocations(body, "application/json", model, schema)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(args: list[str], template_env: dict[str, str], cpus: set[int], log: Path) -> subprocess.Popen:
    """The server in its own process group with the template's environment, pinned to ``cpus``
    (its workers inherit the pin)."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, **template_env, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    executable = shutil.which(args[0], path=env["PATH"])
    if executable is None:
        raise SystemExit(f"{args[0]!r} not found next to {sys.executable}; install the bench extra: "
                         ".venv/bin/pip install -e '.[bench]'")
    return subprocess.Popen(
        [executable, *args[1:]], env=env, stdin=subprocess.DEVNULL, stdout=log.open("w"),
        stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=lambda: os.sched_setaffinity(0, cpus))


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(STOP_TIMEOUT_SECONDS)


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


def tree_rss(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in bytes."""
    total = 0
    for member in process_tree(pid):
        try:
            for line in (Path("/proc") / str(member) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its live descendants."""
    ticks = 0
    for member in process_tree(pid):
        try:
            fields = (Path("/proc") / str(member) / "stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


async def wait_ready(url: str, server: subprocess.Popen, log: Path) -> None:
    import aiohttp

    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"the model server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                async with session.get(f"{url}/ping") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)
    raise SystemExit(f"the model server was not ready within {READY_TIMEOUT_SECONDS:.0f}s:\n{log.read_text()[-3000:]}")


class Phase:
    """Latencies and errors of one load phase."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.seconds = 0.0
        self.cpu_started = time.process_time()
        self.generator_cpu = 0.0  # CPU-seconds the load generator itself used
        self.server_cpu = 0.0  # CPU-seconds the server and its workers used

    def finish(self, started: float) -> None:
        self.seconds = time.perf_counter() - started
        self.generator_cpu = time.process_time() - self.cpu_started

    @property
    def per_minute(self) -> float:
        return len(self.latencies) / self.seconds * 60 if self.latencies else 0.0

    @property
    def server_cpu_ms_per_request(self) -> float:
        return self.server_cpu / len(self.latencies) * 1000 if self.latencies else float("nan")

    def line(self, name: str) -> str:
        done = len(self.latencies)
        if not done:
            return f"{name:<11} no successful request ({self.errors} errors)"
        quantiles = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return (f"{name:<11} {self.per_minute:>9,.0f} requests/min   p50 {quantiles[49] * 1000:6.1f} ms   "
                f"p99 {quantiles[98] * 1000:6.1f} ms   {done:,} ok, {self.errors} errors in {self.seconds:.1f} s, "
                f"server {self.server_cpu / self.seconds:.2f} CPU ({self.server_cpu_ms_per_request:.1f} ms CPU/request), "
                f"load generator {self.generator_cpu / self.seconds:.2f} CPU")


async def post(session, url: str, body: bytes, phase: Phase) -> None:
    started = time.perf_counter()
    try:
        async with session.post(f"{url}/invocations", data=body,
                                headers={"Content-Type": "application/json"}) as response:
            await response.read()
            ok = response.status == 200
    except Exception:  # a failed request is a figure here, not a crash
        ok = False
    if ok:
        phase.latencies.append(time.perf_counter() - started)
    else:
        phase.errors += 1


async def saturate(url: str, body: bytes, concurrency: int, duration: float, max_requests: int) -> Phase:
    """``concurrency`` clients, each sending its next request when the last one answered."""
    import aiohttp

    phase, issued = Phase(), 0
    phase.cpu_started = time.process_time()
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()

        async def client() -> None:
            nonlocal issued
            while time.perf_counter() - started < duration and issued < max_requests:
                issued += 1
                await post(session, url, body, phase)

        await asyncio.gather(*(client() for _ in range(concurrency)))
        phase.finish(started)
    return phase


async def open_loop(url: str, body: bytes, per_minute: float, duration: float, max_requests: int) -> Phase:
    """Requests sent on a fixed schedule whether or not earlier ones answered (at most 512 in flight)."""
    import aiohttp

    phase, interval = Phase(), 60.0 / per_minute
    total = min(max_requests, int(duration / interval))
    in_flight = asyncio.Semaphore(512)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as session:
        started = time.perf_counter()

        async def one() -> None:
            async with in_flight:
                await post(session, url, body, phase)

        tasks = []
        for n in range(total):
            delay = started + n * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        phase.finish(started)
    return phase


def measure(kind: str, workdir: Path, options: argparse.Namespace) -> float:
    """Train, serve and load one model kind; print its figures; return saturation requests/minute."""
    import json

    model, container = served_model()
    limits = container["resources"]["limits"]
    available = sorted(os.sched_getaffinity(0))
    cpus = set(available[:max(1, int(float(limits["cpu"])))])
    template_env = {e["name"]: e["value"] for e in container["env"]
                    if "value" in e and e["name"] != "MLFLOW_TRACKING_URI"}
    classifier, model_uri, row = train_and_log(workdir, kind, options.seed, options.rows)
    body = json.dumps({"dataframe_split": row.to_dict(orient="split")}).encode()
    port = free_port()
    args = model_server_args(model_uri, model.workers, host="127.0.0.1", port=port)
    url = f"http://127.0.0.1:{port}"
    print(f"\n== {kind}: {FEATURES} features, {options.rows} customer(s) per request")
    print(f"server      {' '.join(args[:3])} --workers {model.workers} --env-manager local, "
          f"{', '.join(f'{k}={v}' for k, v in sorted(template_env.items()))}; template limits cpu {limits['cpu']}, "
          f"memory {limits['memory']}; pinned to CPUs {sorted(cpus)} of {available}")
    if len(cpus) >= len(available):
        print(f"note        this machine has {len(available)} CPUs: the load generator runs on the server's CPUs "
              "and takes part of them, so the figures understate a dedicated 2-CPU pod")
    model_ms = cpu_ms_per_call(lambda: classifier.predict_proba(row))
    mlflow_ms = cpu_ms_per_call(scoring_path(model_uri, body))
    print(f"baseline    model predict_proba {model_ms:5.2f} ms CPU/request; MLflow's handling without HTTP "
          f"{mlflow_ms:5.2f} ms CPU/request (in-process, one thread)")
    log = workdir / f"server-{kind}.log"
    server = start_server(args, template_env, cpus, log)
    try:
        asyncio.run(wait_ready(url, server, log))
        asyncio.run(saturate(url, body, options.concurrency, 3.0, 1_000))  # warm-up, not reported
        cpu = tree_cpu_seconds(server.pid)
        saturation = asyncio.run(saturate(url, body, options.concurrency, options.duration, options.max_requests))
        saturation.server_cpu, cpu = tree_cpu_seconds(server.pid) - cpu, tree_cpu_seconds(server.pid)
        print(saturation.line("saturation") + f" ({options.concurrency} clients)")
        target = asyncio.run(open_loop(url, body, options.rate, options.duration, options.max_requests))
        target.server_cpu = tree_cpu_seconds(server.pid) - cpu
        print(target.line("target") + f" (open loop, {options.rate:,.0f}/min scheduled)")
        print(f"memory      server and workers resident: {tree_rss(server.pid) / 2**20:,.0f} MiB "
              f"(template limit {limits['memory']})")
    finally:
        stop_server(server)
    return saturation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=[*MODELS, "both"], default="both")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per load phase")
    parser.add_argument("--concurrency", type=int, default=16, help="clients in the saturation phase")
    parser.add_argument("--rate", type=float, default=USERS_RATE_PER_MINUTE, help="requests/minute, open loop")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per phase")
    parser.add_argument("--rows", type=int, default=1, help="customers per request (the users' figure: one)")
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args()
    kinds = MODELS if options.model == "both" else (options.model,)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="multidc-serving-") as tmp:
        reached = {kind: measure(kind, Path(tmp), options) for kind in kinds}
    print(f"\nmachine load average (1 min): {load_before:.1f} at start, {os.getloadavg()[0]:.1f} at end, on "
          f"{os.cpu_count()} CPUs; other processes' load lowers the measured rates, and the CPU per request less so")
    print(f"users' figure: {USERS_RATE_PER_MINUTE:,} requests/min on 2 CPU / 2 GB")
    for kind, phase in reached.items():
        ceiling = 2 * 60_000 / phase.server_cpu_ms_per_request
        print(f"  {kind:<20} measured {phase.per_minute:>7,.0f}/min ({phase.per_minute / USERS_RATE_PER_MINUTE:.2f}x); "
              f"CPU-bound ceiling on 2 dedicated CPUs at {phase.server_cpu_ms_per_request:.1f} ms CPU/request: "
              f"{ceiling:,.0f}/min ({ceiling / USERS_RATE_PER_MINUTE:.2f}x)")


if __name__ == "__main__":
    main()
