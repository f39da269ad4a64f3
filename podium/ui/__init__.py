"""`podium ui`: a local web page for runs, approvals and spend (the extra `podium[ui]`)."""
