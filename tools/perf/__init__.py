"""Synth performance: the benchmark and the -O bytecode compile."""
