"""A non-editable install of the built wheel finds the project from the working directory, as the
Pulumi CLI does: nothing is looked up next to the installed package."""

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from multidc import project


def _run(*args, cwd, timeout=600, env=None):
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    return done


def test_the_built_wheel_plans_a_stack_from_the_project_folder(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(project.root(), source, ignore=shutil.ignore_patterns(
        ".venv", ".git", ".multidc", "__pycache__", "*.egg-info", "build", "out", ".pytest_cache"))
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"),
                 str(source), cwd=tmp_path)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("multidc-*.whl"))

    # A fresh virtualenv holding only the wheel; its dependencies are read from this test's own
    # environment (a path entry, whose .pth files, among them the editable install's, are not run).
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)}))
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    python = target / "bin" / "python"
    installed = _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
                     str(wheel), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]

    where = _run(str(python), "-c", "import multidc; print(multidc.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(site)), f"multidc imported from {where.stdout}: not the wheel"

    folder = tmp_path / "project"
    shutil.copy(source / "Pulumi.yaml", folder.mkdir() or folder / "Pulumi.yaml")
    for part in ("stacks", "policies", "docs"):
        shutil.copytree(source / part, folder / part)
    (folder / "deep" / "inside").mkdir(parents=True)
    planned = _run(str(target / "bin" / "multidc"), "plan", "--stack", "kz-prod", cwd=folder / "deep" / "inside",
                   env={"COLUMNS": "200"})
    assert planned.returncode == 0, planned.stdout[-2000:] + planned.stderr[-3000:]
    assert "Resilience" in planned.stdout or "resilience" in planned.stdout.lower()

    outside = _run(str(target / "bin" / "multidc"), "plan", "--stack", "kz-prod", cwd=tmp_path)
    assert outside.returncode == 2
    assert "no Pulumi.yaml" in outside.stderr and "--project-dir" in outside.stderr
    assert "Traceback" not in outside.stderr
