"""``python -m multidc.serving --model-uri URI [--host H] [--port P] [--workers N]``: serve a model.

The model is loaded by URI as ``mlflow models serve`` loads it (``models:/churn/Production``,
``runs:/<run>/model``, a local path; ``MLFLOW_TRACKING_URI`` says where the registry is). Each
worker is a process with its own copy of the model; one worker per CPU is what the serving
benchmark measured best (``benchmarks/serving.py``).
"""

from __future__ import annotations

import argparse
import os
import sys

from multidc.serving.app import DEFAULT_MAX_BATCH, MAX_BATCH_ENV, MODEL_URI_ENV

DEFAULT_PORT = 8080


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m multidc.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-uri", "-m", required=True, help="the MLflow model to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default: %(default)s)")
    parser.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                        help="rows per micro-batch; 0 sends every request through MLflow's own "
                             "scoring code (default: %(default)s)")
    options = parser.parse_args(argv)
    if options.workers < 1:
        parser.error(f"--workers {options.workers}: a server needs at least one worker; pass 1 or more")
    if options.max_batch < 0:
        parser.error(f"--max-batch {options.max_batch}: must be 0 (no batching) or more")
    try:
        import uvicorn
    except ImportError:
        sys.exit("python -m multidc.serving needs the serving extra: pip install 'multidc[serving]'")
    os.environ[MODEL_URI_ENV] = options.model_uri
    os.environ[MAX_BATCH_ENV] = str(options.max_batch)
    # One worker loads the model before binding, so a wrong URI fails here with MLflow's message;
    # more workers each load their own copy in their process.
    if options.workers == 1:
        from multidc.serving.app import load

        try:
            app = load(options.model_uri, options.max_batch)
        except Exception as error:  # noqa: BLE001 - one line for the user, not a traceback
            sys.exit(f"cannot load model {options.model_uri!r}: {error}")
        uvicorn.run(app, host=options.host, port=options.port, log_level="warning", access_log=False)
    else:
        uvicorn.run("multidc.serving.app:from_environment", factory=True, host=options.host, port=options.port,
                    workers=options.workers, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
