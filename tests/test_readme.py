"""The README's library example runs and does what it says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_example_answers_the_boot_notification() -> None:
    [example] = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, str(README), "exec"), {})
    assert out.getvalue().strip() == (
        '[b\'[3,"19223201",{"status":"Accepted","currentTime":"2026-11-21T12:00:00Z",'
        '"interval":300}]\']'
    )
