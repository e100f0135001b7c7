"""The ASGI app: MLflow's scoring protocol, with a fast path for plain numeric rows.

Routes and answers are those of ``mlflow.pyfunc.scoring_server.init`` (MLflow's FastAPI app,
what ``mlflow models serve`` runs): ``GET /ping`` and ``/health`` answer ``"\\n"``, ``GET
/version`` MLflow's version, ``POST /invocations`` the predictions or MLflow's error document
(``{"error_code": ..., "message": ...}`` with its HTTP status); other paths 404 and other
methods 405 as FastAPI answers them.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Awaitable, Callable, Optional

import numpy as np
import orjson

from multidc.serving.batching import BatchRefused, MicroBatcher
from multidc.serving.requests import NumericSignature

MODEL_URI_ENV = "MULTIDC_SERVING_MODEL_URI"
MAX_BATCH_ENV = "MULTIDC_SERVING_MAX_BATCH"
DEFAULT_MAX_BATCH = 64

Send = Callable[[dict], Awaitable[None]]

_ROUTES = {"/ping": b"GET", "/health": b"GET", "/version": b"GET", "/invocations": b"POST"}
_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"


async def _answer(send: Send, status: int, body: bytes, content_type: bytes,
                  extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _header(scope: dict, name: bytes) -> Optional[str]:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class ScoringApp:
    """MLflow's scoring protocol for one loaded pyfunc ``model``."""

    def __init__(self, model, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        from mlflow.environment_variables import MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT
        from mlflow.pyfunc import scoring_server
        from mlflow.version import VERSION

        self._model = model
        self._schema = model.metadata.get_input_schema()
        self._scoring = scoring_server
        self._version = VERSION.encode()
        self._timeout = MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT.get()
        self._signature = NumericSignature.of(model) if max_batch > 0 else None
        self._predict_fn = getattr(model, "_predict_fn", None)
        if self._predict_fn is None:  # an MLflow without it: enforce the schema again per batch
            self._predict_fn = model.predict
        self._batcher = MicroBatcher(self._predict_rows, max_batch) if self._signature else None

    @property
    def fast_path(self) -> bool:
        """Whether plain numeric requests skip MLflow's per-request parsing (the model allows it)."""
        return self._batcher is not None

    def _predict_rows(self, rows) -> Any:
        # The rows passed the signature's check (``NumericSignature.rows``: exactly its columns,
        # each a number) and ``frame`` casts them to its types: the DataFrame MLflow's schema
        # enforcement would hand the model. Enforcing again per batch would cost ~3 ms of the ~4 ms
        # a one-row batch of the churn model takes, so the flavour's own predict function (what
        # ``PyFuncModel.predict`` calls after enforcing) is called directly.
        return self._predict_fn(self._signature.frame(rows))

    async def __call__(self, scope: dict, receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        method = _ROUTES.get(scope["path"])
        if method is None:
            await _answer(send, 404, b'{"detail":"Not Found"}', _JSON)
        elif scope["method"].encode() != method:
            await _answer(send, 405, b'{"detail":"Method Not Allowed"}', _JSON, ((b"allow", method),))
        elif scope["path"] == "/invocations":
            await self._invocations(scope, receive, send)
        elif scope["path"] == "/version":
            await _answer(send, 200, self._version, _JSON)
        else:
            await _answer(send, 200, b"\n", _JSON)

    async def _invocations(self, scope: dict, receive, send: Send) -> None:
        body = await _read_body(receive)
        content_type = _header(scope, b"content-type")
        if self._batcher is not None and content_type == "application/json":
            answer = await self._fast(body)
            if answer is not None:
                await _answer(send, 200, answer, _JSON)
                return
        status, answer, mimetype = await self._mlflow(body, content_type)
        await _answer(send, status, answer, mimetype)

    async def _fast(self, body: bytes) -> Optional[bytes]:
        """The answer to a plain numeric request, or None to take MLflow's path."""
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        rows = self._signature.rows(payload)
        if rows is None:
            return None
        try:
            predictions, start, stop = await self._batcher.predict(rows)
        except BatchRefused:
            return None
        part = predictions.iloc[start:stop] if hasattr(predictions, "iloc") else predictions[start:stop]
        return _predictions_json(part)

    async def _mlflow(self, body: bytes, content_type: Optional[str]) -> tuple[int, bytes, bytes]:
        """MLflow's own answer: ``scoring_server.invocations`` in a thread, as MLflow's app runs it."""
        from mlflow.exceptions import MlflowException

        try:
            result = await asyncio.wait_for(asyncio.to_thread(
                self._scoring.invocations, body, content_type, self._model, self._schema), self._timeout)
        except (asyncio.TimeoutError, TimeoutError):  # MLflow's app answers its timeout so
            return 504, b"Request processing time exceeded limit", _JSON
        except MlflowException as error:
            return error.get_http_status_code(), error.serialize_as_json().encode(), _JSON
        except Exception:  # noqa: BLE001 - what MLflow's app answers to an unexpected error
            return 500, b"Internal Server Error", _TEXT
        mimetype = result.mimetype.encode()
        return result.status, result.response.encode(), _TEXT if mimetype == b"text/plain" else mimetype


def _predictions_json(part: Any) -> bytes:
    """``{"predictions": [...]}`` as MLflow writes it, for a slice of the batch's predictions."""
    if isinstance(part, np.ndarray) and part.dtype.kind in "iub" or (
            isinstance(part, np.ndarray) and part.dtype.kind == "f" and np.isfinite(part).all()):
        return orjson.dumps({"predictions": part}, option=orjson.OPT_SERIALIZE_NUMPY)
    # Anything else (DataFrames, strings, NaN) is written by MLflow's own encoder.
    from io import StringIO

    from mlflow.pyfunc.scoring_server import predictions_to_json

    out = StringIO()
    predictions_to_json(part, out)
    return out.getvalue().encode()


def load(model_uri: str, max_batch: int = DEFAULT_MAX_BATCH) -> ScoringApp:
    """The app for the model at ``model_uri`` (``models:/name/version``, ``runs:/...``, a path)."""
    from mlflow.environment_variables import _MLFLOW_IS_IN_SERVING_ENVIRONMENT
    from mlflow.pyfunc import scoring_server

    os.environ[_MLFLOW_IS_IN_SERVING_ENVIRONMENT.name] = "true"
    return ScoringApp(scoring_server.load_model_with_mlflow_config(model_uri), max_batch)


def from_environment() -> ScoringApp:
    """The app uvicorn's workers build (``--factory``): the model named by the environment."""
    return load(os.environ[MODEL_URI_ENV], int(os.environ.get(MAX_BATCH_ENV, DEFAULT_MAX_BATCH)))
