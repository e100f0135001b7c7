"""The engines benchmarks/serving.py compares, each started the same way: one process group,
pinned to the server's CPUs, on 127.0.0.1 and free ports, the model loaded from the same
local MLflow model directory.

- ``mlflow``: ``mlflow models serve`` (MLflow's FastAPI scoring app on uvicorn), the template's
  engine before issue 14;
- ``mlserver``: MLServer with the MLflow runtime (``mlserver-mlflow``), adaptive batching on,
  answering MLflow's protocol on ``/invocations``; MLServer pins a FastAPI older than MLflow's,
  so it runs from its own virtualenv (``--mlserver-venv``, built in the work directory when
  not given);
- ``mlserver-v2``: the same server on its own V2 inference protocol, the endpoint its adaptive
  batching applies to (a different request body: one named input per column);
- ``multidc``: ``python -m multidc.serving``, the server the template ships.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

STOP_TIMEOUT_SECONDS = 10.0
ENGINES = ("mlflow", "mlserver", "mlserver-v2", "multidc")
MLSERVER_PACKAGES = ("mlserver==1.7.1", "mlserver-mlflow==1.7.1")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Engine:
    """How to start one engine on one model, and where to send its requests."""

    name: str
    command: list[str]
    url: str
    ready_url: str
    body: bytes
    setting: str  # workers, threads, batching: one line for the output
    env: dict[str, str] = field(default_factory=dict)

    def start(self, cpus: set[int], log: Path) -> subprocess.Popen:
        return subprocess.Popen(
            # PATH first names this Python's bin: ``mlflow models serve`` runs ``uvicorn`` from PATH.
            self.command, env={**os.environ, "OMP_NUM_THREADS": "1", **self.env,
                               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"},
            stdin=subprocess.DEVNULL,
            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: os.sched_setaffinity(0, cpus))


def stop(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(STOP_TIMEOUT_SECONDS)


def v2_body(columns: list[str], values: list[float]) -> bytes:
    """One row in MLServer's V2 protocol: one named FP64 input per column."""
    return json.dumps({"inputs": [{"name": name, "shape": [1], "datatype": "FP64", "data": [value]}
                                  for name, value in zip(columns, values)]}).encode()


def mlserver_python(venv: Optional[Path], workdir: Path) -> tuple[Optional[Path], str]:
    """The Python of a virtualenv with MLServer and its MLflow runtime, and a note; (None, why) when
    it cannot be had. MLflow and scikit-learn are pinned to this process's versions so that both
    servers load the same model with the same code."""
    import mlflow
    import sklearn

    if venv is None:
        venv = workdir / "mlserver-venv"
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *MLSERVER_PACKAGES,
                            f"mlflow=={mlflow.__version__}", f"scikit-learn=={sklearn.__version__}"],
                           check=True, capture_output=True, text=True, timeout=900)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            tail = (getattr(error, "stderr", "") or "").strip().splitlines()[-3:]
            return None, f"MLServer could not be installed in {venv}: {' / '.join(tail) or error}"
    python = venv / "bin" / "python"
    if not (venv / "bin" / "mlserver").exists():
        return None, f"{venv} has no mlserver command: pip install {' '.join(MLSERVER_PACKAGES)} there"
    return python, f"MLServer from {venv}"


def engine(name: str, model_dir: Path, workdir: Path, body: bytes, v2: bytes, *, workers: int,
           mlflow_workers: int, max_batch: int, mlserver: Optional[Path]) -> Engine:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    if name == "mlflow":
        return Engine(name, [str(bin_dir / "mlflow"), "models", "serve", "--model-uri", str(model_dir),
                             "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", str(mlflow_workers)],
                      f"{url}/invocations", f"{url}/ping", body, f"{mlflow_workers} uvicorn worker(s)")
    if name == "multidc":
        return Engine(name, [sys.executable, "-m", "multidc.serving", "--model-uri", str(model_dir),
                             "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                             "--max-batch", str(max_batch)],
                      f"{url}/invocations", f"{url}/ping", body,
                      f"{workers} worker(s), micro-batches of up to {max_batch} rows")
    assert mlserver is not None and name in ("mlserver", "mlserver-v2")
    home = workdir / f"mlserver-{port}"
    (home / "churn").mkdir(parents=True)
    (home / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(), "metrics_port": free_port(),
        "parallel_workers": 0, "debug": False}))
    (home / "churn" / "model-settings.json").write_text(json.dumps({
        "name": "churn", "implementation": "mlserver_mlflow.MLflowRuntime", "parameters": {"uri": str(model_dir)},
        "max_batch_size": max_batch, "max_batch_time": 0.002}))
    path = "/invocations" if name == "mlserver" else "/v2/models/churn/infer"
    return Engine(name, [str(mlserver.parent / "mlserver"), "start", str(home)], f"{url}{path}",
                  f"{url}/v2/models/churn/ready", body if name == "mlserver" else v2,
                  f"in-process inference (parallel_workers 0), adaptive batching up to {max_batch} rows / 2 ms")
