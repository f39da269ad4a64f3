"""Python agents for this workflow: plain functions, run in-process by podium's local provider."""


def count_words(prompt: str) -> dict[str, int]:
    """The number of words in the prompt (here, the answer of the step before)."""
    return {"words": len(prompt.split())}
