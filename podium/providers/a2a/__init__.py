"""The A2A provider: a step calls any agent that speaks Agent2Agent (a2a-sdk 1.x), on any cloud or none."""
