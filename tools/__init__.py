"""Small programs around the synthesized stacks: terraform, scan, benchmark."""
