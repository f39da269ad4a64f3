"""Python agents for this workflow: plain functions, run in-process by podium's local provider."""

MOST_WORDS = 200


def check_length(prompt: str) -> dict[str, object]:
    """Counts the draft's words and says whether it is short enough to publish."""
    words = len(prompt.split())
    return {"words": words, "ok": words <= MOST_WORDS}
