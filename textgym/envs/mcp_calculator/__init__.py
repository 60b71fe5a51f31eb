"""``TextMCPCalculator-v0``: TextCalculator-v0 with its calculator served over MCP."""
