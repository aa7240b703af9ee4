"""docs/station-conformance.md names, for each OCA test case it covers, the test that shows it:
every test it names exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = {
    "v2": "tests/test_station_v2.py",
    "oca": "tests/test_station_oca.py",
    "durable": "tests/test_station_v2_durable.py",
}


def _tests_in(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test")
    }


def test_every_test_the_conformance_map_names_exists() -> None:
    text = (ROOT / "docs" / "station-conformance.md").read_text()
    named = set(re.findall(r"\b(v2|oca|durable)::(test\w+)", text))
    assert len(named) > 50  # the map does name its tests this way
    defined = {prefix: _tests_in(path) for prefix, path in FILES.items()}
    missing = sorted(f"{prefix}::{name}" for prefix, name in named if name not in defined[prefix])
    assert not missing, missing
