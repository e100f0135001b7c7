"""The model server the serving template ships: MLflow's scoring protocol, faster.

``python -m multidc.serving --model-uri models:/churn/Production`` answers ``POST
/invocations`` (``dataframe_split``, ``dataframe_records``, ``instances``, ``inputs``) and
``GET /ping``, ``/health``, ``/version`` as ``mlflow models serve`` does, with the model's
signature enforced by MLflow itself. Where it is faster (see docs/ml-platform.md):

- a bare ASGI app on uvicorn (no framework, no access log), JSON parsed with orjson;
- requests that reach the server together are predicted together: one call of the model's
  ``predict`` (and one schema enforcement) per micro-batch instead of one per request
  (``batching``);
- only requests whose every column is in the signature with a plain number take that path
  (``requests``); everything else, and every error, goes through MLflow's own scoring code
  (``mlflow.pyfunc.scoring_server.invocations``), so its answers are MLflow's by construction.

Needs the ``serving`` extra (``pip install 'multidc[serving]'``).
"""
