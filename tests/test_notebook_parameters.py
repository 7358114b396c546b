"""Every notebook's ``parameters`` cell parses with papermill's own parameter inference (issue 16, item 3):
each name assigned in the cell (read with ``ast``) is inferred by ``papermill.inspect_notebook`` with the
same default, and papermill warns about no line ("Unable to parse line ...": a comment with '=', say)."""
from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

import papermill
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def parameters_cell(path: Path) -> str:
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
             if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{path.name}: {len(cells)} cells tagged 'parameters' (one expected)"
    src = cells[0]["source"]
    return "".join(src) if isinstance(src, list) else src


def assigned(source: str) -> dict[str, object]:
    """name -> literal value of every top-level assignment in the cell (parameters are literals only)."""
    out = {}
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        assert all(isinstance(t, ast.Name) for t in targets), f"not a plain name: {ast.unparse(node)}"
        for t in targets:
            out[t.id] = ast.literal_eval(node.value)
    return out


def test_every_notebook_is_covered():
    assert len(NOTEBOOKS) >= 8 and all(p.name[:2].isdigit() for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_parses_with_papermill(path, caplog):
    names = assigned(parameters_cell(path))
    assert names, f"{path.name}: no assignment in the parameters cell"
    with caplog.at_level(logging.WARNING, logger="papermill"):
        inferred = papermill.inspect_notebook(str(path))
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("papermill")
                and r.levelno >= logging.WARNING]
    assert not warnings, f"{path.name}: {warnings}"
    assert list(inferred) == list(names), f"{path.name}: not inferred: {sorted(set(names) - set(inferred))}"
    for name, value in names.items():                               # the same default, not a truncated line
        assert ast.literal_eval(inferred[name]["default"]) == value, (path.name, name, inferred[name]["default"])


def test_readme_lists_what_papermill_infers():
    """The README's "Notebook parameters" table: the four shared names, then each notebook's others, in order."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Notebook parameters", 1)[1].split("\n## ", 1)[0]
    common = ["PROFILE", "WRITE_RESULTS", "RESULTS_ROOT", "PROGRESS"]
    assert "takes " + ", ".join(f"`{c}`" for c in common) + ";" in section
    for path in NOTEBOOKS:
        names = list(papermill.inspect_notebook(str(path)))
        assert names[:4] == common, path.name
        assert f"| `{path.name}` | " + ", ".join(f"`{n}`" for n in names[4:]) + " |" in section, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_budget_and_settings_come_from_the_profile(path):
    """A notebook keeps no private per-profile table (a second profile system): no ``{...}[PROFILE]`` lookup in
    any code cell; its budget and settings are the profile's (``Profile.budgets`` / ``Profile.settings``)."""
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    for c in cells:
        src = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):
                assert ast.unparse(node.slice) != "PROFILE", f"{path.name}: a per-profile table: {ast.unparse(node)[:80]}"
