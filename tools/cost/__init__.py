"""What the stacks cost: the monthly estimate (`make cost`) and its offline price table."""
