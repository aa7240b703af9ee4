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
    handled, accepted, refused = out.getvalue().strip().split("\n")
    assert handled == "boot from VendorX SingleSocketCharger"
    assert re.fullmatch(
        r'\[b\'\[3,"19223201",\{"status":"Accepted","currentTime":"[0-9T:.-]+Z","interval":300\}\]\'\]',
        accepted,
    )
    # The text the README shows for the refused frame.
    [shown] = re.findall(r"`(\[4,\"19223202\".*?)`", README.read_text())
    assert refused == f"[b'{shown}']"
