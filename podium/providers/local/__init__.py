"""The local provider: python callables, scripted replies, and any OpenAI-compatible endpoint."""
