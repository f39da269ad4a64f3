"""The Bedrock provider: managed agents (InvokeAgent) and models (Converse) via boto3; its emulator."""
