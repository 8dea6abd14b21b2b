"""What the tools share: terraform runs, reading the synthesized JSON, git, errors."""
