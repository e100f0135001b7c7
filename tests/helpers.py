"""Helpers for tests that run `multidc` as its own process in a project folder of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from multidc import project


class Project:
    """A project folder for one test and a way to add stacks to it."""

    def __init__(self, path: Path, add) -> None:
        self.path, self.add = path, add

    def __fspath__(self) -> str:
        return str(self.path)

    def __truediv__(self, other):
        return self.path / other


def run_multidc(folder, *args, expect=0, timeout=300):
    """`multidc ARGS` as its own process in the project `folder`; asserts the exit code (any, if `expect` is None)
    and no traceback."""
    env = {**os.environ, project.PROJECT_DIR_ENV: os.fspath(folder)}
    done = subprocess.run([sys.executable, "-m", "multidc", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert expect is None or done.returncode == expect, f"multidc {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    return done
