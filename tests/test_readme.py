"""The README opens with exactly two commands, and CI runs the second one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_starts_with_exactly_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    assert block, "README.md needs a code block with the two commands"
    lines = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(lines) == 2
    run, test = lines
    assert "seed_demo" in run and "runserver 127.0.0.1:8000" in run and "pip install" in run
    assert test == "bash scripts/test.sh"
    assert "sed -n 2p" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
