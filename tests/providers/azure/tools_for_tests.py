"""Tools the Azure tests' agents declare (``tools: {weather: tools_for_tests:weather}``)."""

from __future__ import annotations


def weather(city: str, days: int = 1) -> dict[str, object]:
    """Today's weather in a city.

    More detail that the tool's description leaves out.
    """
    return {"city": city, "days": days, "sky": "rain"}


def broken(city: str) -> str:
    """Always fails."""
    raise RuntimeError(f"no weather for {city}")
