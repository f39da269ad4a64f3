"""A workflow-local module named like the standard library's json: it must not replace it."""


def f(prompt: str) -> str:
    return f"local json.f got {prompt}"
