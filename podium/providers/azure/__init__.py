"""Azure AI Foundry: Foundry agents and model deployments through azure-ai-projects and openai."""
