"""Built-in providers: one sub-package per backend, each a pluggy plugin; they never import each other."""
