"""What helps a person write workflows: the JSON Schema for editors, starter projects, shell completion."""
