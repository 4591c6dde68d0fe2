"""What a fresh clone, an image build and a new reader rely on: our names, the Dockerfile, the README."""

import fnmatch
import importlib.metadata
import importlib.util
import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from tests.services import REPO_ROOT

# Our top-level packages; api, schema and auth are also names of unrelated PyPI distributions.
OUR_PACKAGES = ("api", "schema", "auth", "audit", "storage")


def test_no_other_distribution_claims_our_package_names() -> None:
    claims = importlib.metadata.packages_distributions()
    intruders = {name: sorted(set(claims.get(name, [])) - {"citygraph"}) for name in OUR_PACKAGES}
    assert {name: dists for name, dists in intruders.items() if dists} == {}


@pytest.mark.parametrize("name", OUR_PACKAGES)
def test_our_package_names_import_from_this_repo(name: str) -> None:
    spec = importlib.util.find_spec(name)
    assert spec is not None
    assert spec.origin is not None
    assert Path(spec.origin).resolve().parent == REPO_ROOT / name


def test_wheel_ships_exactly_our_packages() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert (
        tuple(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]) == OUR_PACKAGES
    )


# --- Dockerfile ------------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = (REPO_ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            # Exec form (JSON array) or shell form.
            args = json.loads(rest) if rest.lstrip().startswith("[") else shlex.split(rest)
            instructions.append((keyword.upper(), args))
    return instructions


def _copied_sources() -> list[str]:
    """Paths that COPY takes from the build context (not from another stage)."""
    sources = []
    for keyword, args in _dockerfile_instructions():
        if keyword not in {"COPY", "ADD"} or any(a.startswith("--from") for a in args):
            continue
        positional = [a for a in args if not a.startswith("--")]
        sources += positional[:-1]  # the last one is the destination
    return sources


def _dockerignored(path: str) -> bool:
    ignored = False
    for raw in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_dockerfile_copies_only_paths_that_exist_and_are_not_dockerignored() -> None:
    sources = _copied_sources()
    assert "uv.lock" in sources
    assert [s for s in sources if not list(REPO_ROOT.glob(s))] == []
    assert [s for s in sources if _dockerignored(s)] == []


def test_dockerfile_copies_every_package_the_wheel_needs() -> None:
    sources = {s.rstrip("/") for s in _copied_sources()}
    assert set(OUR_PACKAGES) <= sources
    # hatchling reads the readme named in pyproject while it builds the wheel, and runs the hook.
    assert "README.md" in sources
    assert "hatch_build.py" in sources


def test_dockerfile_runs_a_console_script_that_pyproject_declares() -> None:
    cmd = [args for keyword, args in _dockerfile_instructions() if keyword == "CMD"][-1]
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert cmd[0] in scripts
    users = [args for keyword, args in _dockerfile_instructions() if keyword == "USER"]
    assert users
    assert users[-1][0] not in {"root", "0"}


# --- README quick start and CI ----------------------------------------------------------------------


def readme_quick_start(text: str) -> list[str] | None:
    """Commands of the first fenced block under a 'Quick start' heading, or None if there is none."""
    heading = re.search(r"^#+\s*quick ?start\b.*$", text, re.IGNORECASE | re.MULTILINE)
    if heading is None:
        return None
    block = re.search(r"^```[^\n]*\n(.*?)^```", text[heading.end() :], re.DOTALL | re.MULTILINE)
    if block is None:
        return None
    lines = (line.strip().removeprefix("$ ") for line in block.group(1).splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def scripts_test_command() -> list[str]:
    """The command scripts/test execs, without the arguments it passes through."""
    for line in (REPO_ROOT / "scripts" / "test").read_text().splitlines():
        if line.strip().startswith("exec "):
            return [word for word in shlex.split(line)[1:] if word != "$@"]
    raise AssertionError("scripts/test has no `exec` line")


def test_ci_runs_scripts_test_lint_and_check_wheel() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    code = [line.split("#")[0] for line in ci.splitlines()]
    for script in ("scripts/test", "scripts/lint", "scripts/check-wheel"):
        assert any(re.search(rf"(^|[\s\"'/]){script}([\s\"']|$)", line) for line in code), script
    assert scripts_test_command() == ["uv", "run", "pytest"]


def test_quick_start_parser_reads_the_first_block_under_the_heading() -> None:
    text = (
        "# citygraph\n```\nnot this\n```\n## Quick start\nTwo commands:\n"
        "```bash\n$ uv run citygraph demo\n# a comment\n\nuv run pytest\n```\n```\nnor this\n```\n"
    )
    assert readme_quick_start(text) == ["uv run citygraph demo", "uv run pytest"]
    assert readme_quick_start("# citygraph\n```\nuv run pytest\n```\n") is None


def test_readme_quick_start_is_the_demo_then_what_ci_runs() -> None:
    readme = REPO_ROOT / "README.md"
    commands = readme_quick_start(readme.read_text() if readme.is_file() else "")
    if commands is None:
        pytest.skip("README.md has no 'Quick start' heading with a fenced block yet")
    assert len(commands) == 2, commands
    assert shlex.split(commands[0])[:3] == ["uv", "run", "citygraph"]
    assert shlex.split(commands[1]) == scripts_test_command()


# --- the wheel -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_wheel_ships_the_pages_and_graphiql(tmp_path: Path) -> None:
    """Templates, static files and the build hook's browser libraries are package data."""
    import subprocess
    import zipfile

    subprocess.run(
        ["uv", "build", "--wheel", "--out-dir", str(tmp_path), str(REPO_ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("citygraph-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "api/pages/templates/base.html",
        "api/pages/templates/dataset.html",
        "api/pages/static/site.css",
        "api/pages/static/graphiql.js",
        "api/pages/vendor.toml",
        "api/pages/static/vendor/manifest.json",
        "api/pages/static/vendor/graphiql/graphiql.min.js",
        "api/pages/static/vendor/react/react.production.min.js",
        "api/pages/static/vendor/graphiql-plugin-explorer/index.umd.js",
    ):
        assert expected in names, expected
