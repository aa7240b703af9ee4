"""docs/station-conformance.md names, for each OCA test case it covers, the test that shows it:
every test it names exists, whether by a prefix of its legend (`oca::name`) or by its path
(`tests/test_client.py::name`), and every prefix it uses is one of its legend."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAP = ROOT / "docs" / "station-conformance.md"
# The prefixes of the map's legend ("How to read the tables") and the files they stand for.
FILES = {
    "v2": "tests/test_station_v2.py",
    "oca": "tests/test_station_oca.py",
    "oca_ev": "tests/test_station_oca_ev.py",
    "oca_ln": "tests/test_station_oca_ln.py",
    "durable": "tests/test_station_v2_durable.py",
    "firmware": "tests/test_station_firmware.py",
    "logs": "tests/test_station_logs.py",
}
# A test named in the map: `prefix::test_name` or `tests/file.py::test_name`.
NAMED = re.compile(r"`([\w/.]+)::(test\w+)`")


def _tests_in(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test")
    }


def test_every_test_the_conformance_map_names_exists() -> None:
    named = set(NAMED.findall(MAP.read_text()))
    assert len(named) > 50  # the map does name its tests this way
    unknown = sorted(
        {where for where, _ in named if where not in FILES and not where.startswith("tests/")}
    )
    assert not unknown, f"prefixes not in the legend: {unknown}"
    defined: dict[str, set[str]] = {}
    missing = []
    for where, name in sorted(named):
        path = FILES.get(where, where)
        if path not in defined:
            defined[path] = _tests_in(path) if (ROOT / path).is_file() else set()
        if name not in defined[path]:
            missing.append(f"{where}::{name}")
    assert not missing, missing


def test_the_legend_names_every_prefix_with_its_file() -> None:
    """Each prefix the test knows is explained in the map with the file it stands for."""
    text = " ".join(MAP.read_text().split())  # the legend wraps its lines
    for prefix, path in FILES.items():
        assert f"`{prefix}::name` is `{path}::name`" in text, prefix
