"""House rules that a green run could otherwise hide."""
import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement.strip(), maxsplit=1)[0].lower()


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def environment_pip_requirements() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    return [line.strip()[2:] for line in lines[start + 1:] if line.strip().startswith("- ")]


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = pyproject()["project"]
    declared = {r for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        declared |= set(extra)
    in_env = [r for r in environment_pip_requirements() if not r.startswith("-e")]
    assert {_name(r) for r in in_env} == {_name(r) for r in declared}
    assert set(in_env) == declared, "same names, and the same version bounds"
    assert "- python=3.11" in (ROOT / "environment.yml").read_text()
    assert "-e ." in environment_pip_requirements()


def test_stack_has_lower_bounds_only():
    project = pyproject()["project"]
    for requirement in project["dependencies"] + sum(project["optional-dependencies"].values(), []):
        spec = requirement.split(";")[0]
        assert "==" not in spec and ">=" in spec, requirement


def test_readme_shows_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    first_block = readme[:readme.index("## ", readme.index("make test"))]
    assert "make lab" in first_block and "make test" in first_block
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert ci[-1].strip() == "make test"


def test_notebooks_are_committed_clean_and_numbered():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        assert re.match(r"\d\d_[a-z0-9_]+\.ipynb$", path.name), path.name
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, \
                    f"{path.name} has outputs: commit notebooks clean"


def test_every_lesson_is_in_the_readme_map():
    readme = (ROOT / "README.md").read_text()
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        assert path.name in readme, f"{path.name} is missing from the README's lesson map"
