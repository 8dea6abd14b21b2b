"""Diagrams drawn from the synthesized JSON."""
