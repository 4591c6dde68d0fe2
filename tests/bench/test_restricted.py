"""bench.restricted's baseline: a server started from another tree runs that tree's code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.peer_database import CITYGRAPH
from bench.restricted import REPO, on_tree

WHICH = "import api.cli, pathlib; print(pathlib.Path(api.cli.__file__).resolve())"


def test_a_baseline_tree_s_process_imports_that_tree(tmp_path: Path) -> None:
    # given a tree with a package of this checkout's name, and this checkout as the bench's cwd
    tree = tmp_path / "baseline"
    (tree / "api").mkdir(parents=True)
    (tree / "api" / "__init__.py").write_text("")
    (tree / "api" / "cli.py").write_text("")
    command = [*CITYGRAPH[:-1], WHICH]  # how the bench starts `citygraph`: python -c
    env, cwd = on_tree(tree)

    def imported(env: dict[str, str], cwd: Path) -> Path:
        done = subprocess.run(command, check=True, capture_output=True, text=True, env=env, cwd=cwd)
        return Path(done.stdout.strip())

    # when the process starts as the bench starts the baseline, it imports the baseline's code
    assert imported(env={**os.environ, **env}, cwd=cwd) == (tree / "api" / "cli.py").resolve()
    # and PYTHONPATH alone, from this checkout, would not do (the trap the bench fell into)
    alone = imported(env={**os.environ, **env}, cwd=REPO)
    assert REPO.resolve() in alone.parents
    assert CITYGRAPH[0] == sys.executable
