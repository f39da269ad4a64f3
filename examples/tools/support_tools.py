"""The support agent's tools: plain python functions, their schemas read from the signatures."""

from __future__ import annotations


def lookup_order(order_id: str) -> dict[str, object]:
    """Look an order up by its id.

    The agent sees only the first paragraph of a docstring, as the tool's description.
    """
    return {"order_id": order_id, "status": "delivered", "total": 42.5, "item": "teapot"}


def refund(order_id: str, amount: float) -> dict[str, object]:
    """Refund an order, in full or in part."""
    return {"order_id": order_id, "refunded": amount}
