"""The serving image and command: what the template deploys is what the tests and benchmark run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from multidc.components.ml_platform import MLFLOW_VERSION, model_server_args

DOCKERFILE = Path(__file__).resolve().parents[2] / "multidc" / "serving" / "Dockerfile"


def test_image_pins_the_mlflow_of_the_tracking_server():
    pinned = re.search(r"^ARG MLFLOW_VERSION=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert pinned is not None and pinned.group(1) == MLFLOW_VERSION


def test_image_carries_the_server_the_deployment_runs():
    text = DOCKERFILE.read_text()
    assert "COPY multidc/serving/ /app/multidc/serving/" in text
    assert model_server_args("models:/churn/1", 2)[:3] == ["python", "-m", "multidc.serving"]


def test_a_model_that_cannot_be_loaded_is_named_without_a_traceback(tmp_path):
    missing = tmp_path / "no-model"
    result = subprocess.run([sys.executable, "-m", "multidc.serving", "--model-uri", str(missing), "--port", "0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert f"cannot load model '{missing}'" in result.stderr
    assert "Traceback" not in result.stderr
