"""A churn model logged and registered with MLflow (a file store in a temporary directory),
the shipped server started on it as a real process, and MLflow's own scoring app in-process.

The server runs as ``nobody`` when the tests run as root (as the local PostgreSQL servers do),
on 127.0.0.1 and a free port, and is stopped after the module.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from multidc.local.postgres import as_server_user, free_port

READY_TIMEOUT_SECONDS = 90.0
COLUMNS = [*(f"f{i}" for i in range(6)), "tenure"]  # six doubles and one long


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    def parsed(self):
        """The body as JSON when it is JSON, else as text: answers compare by meaning, not spacing."""
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode()


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        import pwd

        entry = pwd.getpwnam("nobody")
        os.chown(path, entry.pw_uid, entry.pw_gid)


@pytest.fixture(scope="session")
def registry():
    """(tracking URI, the frame the model was trained on): model ``churn`` version 1 registered."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    import sklearn
    from sklearn.linear_model import LogisticRegression

    root = Path(tempfile.mkdtemp(prefix="multidc-serving-test-"))
    previous = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 keeps the file store behind an opt-in
    try:
        rng = np.random.default_rng(14)
        frame = pd.DataFrame(rng.normal(size=(400, 6)), columns=COLUMNS[:6])
        frame["tenure"] = rng.integers(0, 120, size=400)
        labels = (frame["f0"] + frame["f1"] - frame["tenure"] / 60 > 0).astype(int)
        tracking = (root / "mlruns").as_uri()
        mlflow.set_tracking_uri(tracking)
        with mlflow.start_run():
            # Probabilities, not labels: every row's answer differs, so a row answered with another's
            # prediction shows.
            # The requirements named, not inferred: MLflow infers them by loading the model in a
            # subprocess (seconds), and nothing here builds an environment from them.
            mlflow.sklearn.log_model(LogisticRegression().fit(frame, labels), name="model",
                                     input_example=frame.iloc[:3], registered_model_name="churn",
                                     pyfunc_predict_fn="predict_proba",
                                     pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
        # A model in a local store is loaded in place, and MLflow writes its registry metadata
        # next to it (``registered_model_meta``): the store belongs to the server user.
        for path in [root, *root.rglob("*")]:
            _give_to_server_user(path)
        yield tracking, frame
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        else:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = previous
        shutil.rmtree(root, ignore_errors=True)


def http(url: str, method: str = "GET", body: Optional[bytes] = None,
         content_type: Optional[str] = "application/json") -> Answer:
    request = urllib.request.Request(url, data=body, method=method)
    if content_type is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, response.headers.get("content-type", ""), response.read())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers.get("content-type", ""), error.read())


@pytest.fixture(scope="session")
def server(registry):
    """The base URL of ``python -m multidc.serving --model-uri models:/churn/1``."""
    tracking, _ = registry
    home = Path(tempfile.mkdtemp(prefix="multidc-serving-home-"))
    _give_to_server_user(home)
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "MLFLOW_ALLOW_FILE_STORE": "true",
           "HOME": str(home), "TMPDIR": str(home)}
    log = home / "server.log"
    process = subprocess.Popen(
        as_server_user([sys.executable, "-m", "multidc.serving", "--model-uri", "models:/churn/1",
                        "--host", "127.0.0.1", "--port", str(port)]),
        env=env, cwd="/", stdin=subprocess.DEVNULL, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"the model server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if http(f"{url}/ping").status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the model server was not ready in {READY_TIMEOUT_SECONDS:.0f}s:\n{log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(15)
        shutil.rmtree(home, ignore_errors=True)


class MlflowReference:
    """MLflow's own scoring app (what ``mlflow models serve`` runs), called in-process over ASGI."""

    def __init__(self, model) -> None:
        from mlflow.pyfunc import scoring_server

        self.model = model
        self.app = scoring_server.init(model)

    def __call__(self, path: str, method: str = "GET", body: Optional[bytes] = None,
                 content_type: Optional[str] = "application/json") -> Answer:
        return asyncio.run(self._call(path, method, body or b"", content_type))

    async def _call(self, path: str, method: str, body: bytes, content_type: Optional[str]) -> Answer:
        headers = [(b"host", b"reference")]
        if content_type is not None:
            headers.append((b"content-type", content_type.encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                 "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("reference", 80)}
        sent = False
        status, response_type, chunks = 0, "", []

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)

        async def send(message):
            nonlocal status, response_type
            if message["type"] == "http.response.start":
                status = message["status"]
                response_type = dict(message["headers"]).get(b"content-type", b"").decode()
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return Answer(status, response_type, b"".join(chunks))


@pytest.fixture(scope="session")
def reference(registry):
    import mlflow.pyfunc

    tracking, _ = registry
    import mlflow

    mlflow.set_tracking_uri(tracking)
    return MlflowReference(mlflow.pyfunc.load_model("models:/churn/1"))
