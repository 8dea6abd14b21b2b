"""One construct per file. Modules never import each other; stacks wire them."""
