"""CI runs the README's test command (the house rule: CI calls the test command from the README)."""
from __future__ import annotations

import re

from support import ROOT


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    setup = re.search(r"```bash\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert len(setup) == 2, "README starts with two set-up commands: the main job and the test suite"
    test_cmd = setup[1].split("&&")[-1].strip()
    assert test_cmd.startswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in [line.strip() for line in ci], f"{test_cmd!r} is not a line of .ci/run"
