"""MCP tier: who may see and call what (policies), and how often (rate limits, concurrency)."""
