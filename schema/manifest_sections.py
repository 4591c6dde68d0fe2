"""Typed reads of one table of a manifest, every problem going to one shared list.

A misspelt key is a problem with a suggestion (`finish`), never silently ignored; a value of the
wrong type is a problem naming what was expected.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from schema.manifest import Problem


class Section:
    """Typed reads of one table of the manifest; every problem goes to the shared list."""

    def __init__(
        self,
        problems: list[Problem],
        data: Any,
        path: str,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.problems = problems
        self.path = path
        self.used: set[str] = set()
        self.data: dict[str, Any] = {}
        if not isinstance(data, dict):
            problems.append(Problem(path, "must be a table"))
            return
        for key, value in data.items():
            canonical = (aliases or {}).get(key, key)
            if canonical in self.data:
                problems.append(
                    Problem(self._at(key), f"given twice (as {canonical!r} and {key!r})")
                )
            self.data[canonical] = value

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(
        self, key: str, kind: type | tuple[type, ...], expected: str, *, required: bool = False
    ) -> Any:
        self.used.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                self.problems.append(Problem(self._at(key), "missing (required)"))
            return None
        value = self.data[key]
        # bool is an int in Python; a manifest's `true` is never a number
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            self.problems.append(
                Problem(self._at(key), f"must be {expected}, not {type(value).__name__} {value!r}")
            )
            return None
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value: str | None = self.get(key, str, "a string", required=required)
        if value is not None and not value.strip():
            self.problems.append(Problem(self._at(key), "must not be empty"))
            return None
        return value

    def flag(self, key: str, default: bool) -> bool:
        value: bool | None = self.get(key, bool, "true or false")
        return default if value is None else value

    def choice(
        self,
        key: str,
        choices: Sequence[str],
        *,
        default: str | None = None,
        what: str = "value",
        required: bool = False,
    ) -> str | None:
        value = self.text(key, required=required)
        if value is None:
            return default
        if value not in choices:
            self.problems.append(
                Problem(
                    self._at(key),
                    f"unknown {what} {value!r} (expected one of {', '.join(choices)})",
                )
            )
            return None
        return value

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self._at(key), message))

    def finish(self) -> None:
        for key in self.data:
            if key not in self.used:
                hint = difflib.get_close_matches(key, sorted(self.used), n=1)
                suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.problems.append(Problem(self._at(key), f"unknown key{suffix}"))


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)
