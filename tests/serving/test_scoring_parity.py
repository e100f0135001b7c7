"""The shipped server answers as MLflow's scoring server does: same predictions for every
request format, same error answers, the model's signature enforced.

Each request goes to the real server process (``python -m multidc.serving`` on ``models:/churn/1``)
and to MLflow's own scoring app (``mlflow.pyfunc.scoring_server.init``, what ``mlflow models serve``
runs); the two answers must have the same status, content type and body (JSON compared parsed).
"""

from __future__ import annotations

import json
import math
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from multidc.serving.requests import NumericSignature
from tests.serving.conftest import COLUMNS, http


def rows(registry, count: int = 5):
    _, frame = registry
    return frame.iloc[:count]


def body(document) -> bytes:
    return json.dumps(document).encode()


def columns(frame) -> dict[str, list]:
    return {name: frame[name].tolist() for name in frame.columns}


def formats(frame) -> dict[str, bytes]:
    """The scoring protocol's four input formats (and their record and column shapes)."""
    return {
        "dataframe_split": body({"dataframe_split": json.loads(frame.to_json(orient="split"))}),
        "dataframe_split without index": body({"dataframe_split": {
            "columns": list(frame.columns), "data": json.loads(frame.to_json(orient="values"))}}),
        "dataframe_split columns in another order": body({"dataframe_split": json.loads(
            frame[list(reversed(frame.columns))].to_json(orient="split"))}),
        "dataframe_records": body({"dataframe_records": json.loads(frame.to_json(orient="records"))}),
        "instances": body({"instances": json.loads(frame.to_json(orient="records"))}),
        "instances as columns": body({"instances": columns(frame)}),
        "inputs": body({"inputs": json.loads(frame.to_json(orient="records"))}),
        "inputs as columns": body({"inputs": columns(frame)}),
    }


FORMATS = ["dataframe_split", "dataframe_split without index", "dataframe_split columns in another order",
           "dataframe_records", "instances", "instances as columns", "inputs", "inputs as columns"]
SET_OF_NAMES = re.compile(r"\{'\w+'(?:, '\w+')*\}")


def canonical(answer):
    """The answer's meaning. MLflow writes the set of input formats as a Python set, whose
    order changes from one process to the next (string hashing is salted per process): two
    ``mlflow models serve`` processes differ in it too, so the set is compared sorted."""
    parsed = answer.parsed()
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        parsed = {**parsed, "message": SET_OF_NAMES.sub(
            lambda found: "{" + ", ".join(sorted(found.group(0)[1:-1].split(", "))) + "}", parsed["message"])}
    return parsed


def close(ours, theirs) -> bool:
    """Equal, but for the last bits of floats. A batch goes through one matrix product, whose
    rounding may differ in the last bit from a one-row product's (2e-16 seen on logistic
    regression's probabilities); everything else, labels and error answers, must be equal."""
    if isinstance(ours, float) and isinstance(theirs, float):
        return math.isclose(ours, theirs, rel_tol=1e-12, abs_tol=1e-15)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(close(a, b) for a, b in zip(ours, theirs))
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(close(ours[key], theirs[key]) for key in ours)
    return type(ours) is type(theirs) and ours == theirs


def same(server_answer, reference_answer) -> None:
    assert server_answer.status == reference_answer.status, (server_answer, reference_answer)
    assert server_answer.content_type.split(";")[0] == reference_answer.content_type.split(";")[0], \
        (server_answer.content_type, reference_answer.content_type)
    assert close(canonical(server_answer), canonical(reference_answer)), (server_answer, reference_answer)


def test_close_tells_a_rounding_from_another_answer():
    assert close({"predictions": [[0.25, 0.75]]}, {"predictions": [[0.25, 0.75 + 2e-16]]})
    assert not close({"predictions": [[0.25, 0.75]]}, {"predictions": [[0.75, 0.25]]})
    assert not close({"predictions": [1]}, {"predictions": [1.0]})


@pytest.mark.parametrize("name", FORMATS)
def test_every_request_format_gets_mlflows_predictions(server, reference, registry, name):
    request = formats(rows(registry))[name]
    answer = http(f"{server}/invocations", "POST", request)
    assert answer.status == 200, answer
    assert len(answer.parsed()["predictions"]) == 5
    same(answer, reference("/invocations", "POST", request))


@pytest.mark.parametrize("name", FORMATS)
def test_every_request_format_takes_the_fast_path(reference, registry, name):
    # Parity above would hold trivially if everything went through MLflow's code: these
    # requests must be the ones the server batches.
    signature = NumericSignature.of(reference.model)
    assert signature is not None
    assert signature.rows(json.loads(formats(rows(registry))[name])) is not None, name


def test_predictions_cover_both_classes(server, registry):
    answer = http(f"{server}/invocations", "POST", formats(rows(registry, 60))["dataframe_split"])
    assert {round(no) for no, _ in answer.parsed()["predictions"]} == {0, 1}


ERRORS = {
    "bad JSON": (b'{"dataframe_split": {"columns": ["f0"], ', "application/json"),
    "not a JSON object": (b"[1, 2, 3]", "application/json"),
    "no input format": (body({"data": [[1.0] * 7]}), "application/json"),
    "two input formats": (body({"inputs": [], "instances": []}), "application/json"),
    "a missing column": (body({"dataframe_split": {"columns": COLUMNS[:-1], "data": [[0.5] * 6]}}),
                         "application/json"),
    "a string where a double goes": (body({"dataframe_split": {"columns": COLUMNS,
                                                               "data": [["high", *[0.5] * 5, 3]]}}),
                                     "application/json"),
    "a null value": (body({"dataframe_records": [{**{c: 0.5 for c in COLUMNS[:6]}, "tenure": None}]}),
                     "application/json"),
    "a ragged split": (body({"dataframe_split": {"columns": COLUMNS, "data": [[0.5]]}}), "application/json"),
    "an unsupported content type": (b"<xml/>", "text/xml"),
    "a charset other than UTF-8": (body({"inputs": []}), "application/json; charset=latin-1"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_get_mlflows_answer(server, reference, name):
    request, content_type = ERRORS[name]
    answer = http(f"{server}/invocations", "POST", request, content_type)
    assert answer.status >= 400, answer
    same(answer, reference("/invocations", "POST", request, content_type))


CASTS = {
    "integers for doubles": {"dataframe_split": {"columns": COLUMNS, "data": [[1, 0, 2, 0, 1, 0, 30]]}},
    "a fraction where a long goes": {"dataframe_split": {"columns": COLUMNS, "data": [[0.5] * 6 + [2.5]]}},
    "an extra column": {"dataframe_records": [{**{c: 0.25 for c in COLUMNS[:6]}, "tenure": 7, "region": "KZ"}]},
}


@pytest.mark.parametrize("name", list(CASTS))
def test_requests_mlflow_accepts_after_its_casts_get_its_predictions(server, reference, name):
    request = body(CASTS[name])
    answer = http(f"{server}/invocations", "POST", request)
    assert answer.status == 200, answer
    same(answer, reference("/invocations", "POST", request))


def test_csv_gets_mlflows_predictions(server, reference, registry):
    request = rows(registry).to_csv(index=False).encode()
    answer = http(f"{server}/invocations", "POST", request, "text/csv")
    assert answer.status == 200, answer
    same(answer, reference("/invocations", "POST", request, "text/csv"))


@pytest.mark.parametrize("path", ["/ping", "/health", "/version"])
def test_health_and_version_answer_as_mlflow(server, reference, path):
    answer = http(f"{server}{path}", content_type=None)
    assert answer.status == 200
    assert (answer.body, answer.content_type) == (reference(path, content_type=None).body,
                                                  reference(path, content_type=None).content_type)


@pytest.mark.parametrize("path,method", [("/score", "POST"), ("/ping", "POST"), ("/invocations", "GET")])
def test_unknown_paths_and_methods_answer_as_mlflow(server, reference, path, method):
    same(http(f"{server}{path}", method, b"{}" if method == "POST" else None),
         reference(path, method, b"{}" if method == "POST" else None))


def test_concurrent_requests_batched_together_each_get_their_own_predictions(server, reference, registry):
    _, frame = registry
    requests = [body({"dataframe_split": json.loads(frame.iloc[i:i + 1 + i % 3].to_json(orient="split"))})
                for i in range(48)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda request: http(f"{server}/invocations", "POST", request), requests))
    for request, answer in zip(requests, answers):
        same(answer, reference("/invocations", "POST", request))
