"""Built-in providers: one sub-package per backend, each a pluggy plugin, never importing another."""
