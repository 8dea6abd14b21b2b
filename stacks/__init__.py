"""Stacks wire modules together: the only place modules meet."""
