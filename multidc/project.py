"""Where the project is: found as the Pulumi CLI finds it, never from where this package is installed.

The project folder holds `Pulumi.yaml`, `stacks/`, `policies/` and `docs/`. It is the one
given by `--project-dir` (or the `MULTIDC_PROJECT_DIR` environment variable), else the
nearest folder holding `Pulumi.yaml` from the working directory upwards.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

PROJECT_FILE = "Pulumi.yaml"
PROJECT_DIR_ENV = "MULTIDC_PROJECT_DIR"


class ProjectNotFound(RuntimeError):
    """No project folder: the message names where it looked and the fix."""


def root(start: Optional[Path] = None) -> Path:
    """The project folder (see the module's docstring); ProjectNotFound when there is none."""
    given = os.environ.get(PROJECT_DIR_ENV)
    if given:
        folder = Path(given).expanduser().resolve()
        if not (folder / PROJECT_FILE).is_file():
            raise ProjectNotFound(f"--project-dir {given}: no {PROJECT_FILE} there; give the folder that holds "
                                  "the project's Pulumi.yaml and stacks/")
        return folder
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    raise ProjectNotFound(f"no {PROJECT_FILE} in {here} or any folder above it; run multidc from the project "
                          "folder (the one holding Pulumi.yaml and stacks/) or pass --project-dir")


def stacks_dir(start: Optional[Path] = None) -> Path:
    return root(start) / "stacks"


def policies_dir(start: Optional[Path] = None) -> Path:
    return root(start) / "policies"


def runbooks_dir(start: Optional[Path] = None) -> Path:
    return root(start) / "docs" / "runbooks"


def state_dir(start: Optional[Path] = None) -> Path:
    """Where journals and local deployments keep their files (`.multidc/`, git-ignored)."""
    return root(start) / ".multidc"
