"""Review of a change: the synth diff, plan summaries, the real-state plan, the comment (verdict, checkov and IAM
changes, cost), drift between changes."""
