"""Review of a change: the synth diff, plan summaries, the PR's review plan and comment."""
