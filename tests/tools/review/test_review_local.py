"""`make review`: the comment rendered locally from a base commit and the working tree (tools.review.review_local)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import subprocess_env

# the fixture: the project as a one-commit repository
from tests.tools.review.test_synth_diff import project_copy  # noqa: F401


def test_make_review_renders_the_one_value_change_with_its_verdict_first(project_copy):  # noqa: F811
    dev = project_copy / "environments" / "dev.toml"
    dev.write_text(dev.read_text().replace("\nmax_tasks = 3\n", "\nmax_tasks = 5\n"))
    result = subprocess.run(
        [sys.executable, "-m", "tools.review.review_local", "--base", "main"],
        cwd=project_copy,
        env={k: v for k, v in subprocess_env().items() if not k.startswith("AWS_")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    comment = (project_copy / "build" / "review" / "comment.md").read_text()
    assert comment in result.stdout
    lines = comment.splitlines()
    assert lines[0] == ":memo: **Changes** — in dev"
    assert any("`max_capacity` `3` → `5`" in line for line in lines[:5])
    assert "No real-state plan for dev: no AWS credentials in this shell" in comment
    assert "checkov did not run" not in comment  # the touched stack was scanned, on both sides
    assert "Estimated monthly cost unchanged in dev." in comment
    # Only dev was touched: only dev was scanned and priced; the duration is printed.
    bundle = project_copy / "build" / "review" / "bundle"
    assert sorted(p.name for p in (bundle / "cost").iterdir()) == ["dev.json"]
    assert '"stack": "dev"' in (bundle / "scan" / "head.json").read_text()
    assert "staging" not in (bundle / "scan" / "head.json").read_text()
    assert "review: dev changed; comment in" in result.stderr and " s: synth " in result.stderr
