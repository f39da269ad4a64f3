"""Python agents for this workflow: plain functions, run in-process by podium's local provider."""

CUSTOMERS = {
    "acme": {"name": "Acme Ltd", "plan": "business"},
    "globex": {"name": "Globex", "plan": "starter"},
}


def lookup_customer(prompt: str) -> dict[str, str]:
    """The customer's record, by id (the prompt); a stand-in for a call to your CRM."""
    return CUSTOMERS.get(prompt.strip(), {"name": prompt.strip(), "plan": "unknown"})
