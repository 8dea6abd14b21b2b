"""Moves: cdktf's logical ids reproduced (to name the old address of a renamed construct), moves in plans."""
from __future__ import annotations

from tools.plan_summary import summarize


def test_plan_summary_lists_moved_resources():
    plan = {"resource_changes": [
        {"address": "aws_s3_bucket.new", "previous_address": "aws_s3_bucket.old", "mode": "managed",
         "type": "aws_s3_bucket", "change": {"actions": ["no-op"]}}]}
    summary = summarize(plan, "qa")
    assert summary.moved == [("aws_s3_bucket.old", "aws_s3_bucket.new", "no-op")] and summary.exit_code == 0
    assert "No changes other than 1 moved." in summary.markdown
    assert "- `aws_s3_bucket.old` → `aws_s3_bucket.new` (no-op)" in summary.markdown

