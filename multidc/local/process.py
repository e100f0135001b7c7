"""Ending a local server process: politely first, then for certain, never waiting forever."""

from __future__ import annotations

import subprocess
from typing import Optional


def terminate(process: Optional[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `timeout`; reaps it either way."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
