"""Helpers for tests that run `multidc` as its own process in a project folder of their own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from multidc import project


class Project:
    """A project folder for one test and a way to add stacks to it."""

    def __init__(self, path: Path, add) -> None:
        self.path, self.add = path, add

    def __fspath__(self) -> str:
        return str(self.path)

    def __truediv__(self, other):
        return self.path / other


def project_with_stack(folder: Path, stack_file: Path) -> Path:
    """A project folder holding the project's Pulumi.yaml and one stack file of a test's own; returns it."""
    import shutil

    shutil.copy(project.root() / "Pulumi.yaml", folder / "Pulumi.yaml")
    (folder / "stacks").mkdir()
    shutil.copy(stack_file, folder / "stacks")
    return folder


def run_multidc(folder, *args, expect=0, timeout=300):
    """`multidc ARGS` as its own process in the project `folder`; asserts the exit code (any, if `expect` is None)
    and no traceback."""
    env = {**os.environ, project.PROJECT_DIR_ENV: os.fspath(folder)}
    done = subprocess.run([sys.executable, "-m", "multidc", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert expect is None or done.returncode == expect, f"multidc {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    return done


def eventually(probe: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    """The first truthy value of ``probe()``; fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
