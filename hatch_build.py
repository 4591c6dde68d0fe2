"""Build hook: install the web pages' browser libraries (api/pages/vendor.py) into the package.

Runs on every wheel build, editable ones included, so `uv sync` (the README's first command),
`uv build` and the Dockerfile all leave GraphiQL and React in api/pages/static/vendor/, checked
against their pinned hashes; the server then serves them without reaching the internet. vendor.py is
loaded by path: the isolated build environment has hatchling and the standard library, not citygraph.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return  # an sdist ships the pins, and its wheel build fetches them
        path = Path(self.root) / "api" / "pages" / "vendor.py"
        spec = importlib.util.spec_from_file_location("citygraph_vendor", path)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while defining classes
        spec.loader.exec_module(module)
        module.install()
