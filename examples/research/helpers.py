"""Python agents for the research example: plain functions, run by the local provider."""


def word_count(prompt: str) -> dict[str, int]:
    """Counts words and sentences in the draft (no model, no tokens)."""
    sentences = [s for s in prompt.replace("!", ".").replace("?", ".").split(".") if s.strip()]
    return {"words": len(prompt.split()), "sentences": len(sentences)}
