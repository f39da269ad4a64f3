"""Google Vertex AI: Agent Engine (reasoning engines) and Gemini models, on podium's provider kit."""
