"""Domain, crypto envelope, local log, state and projections. No network, no asyncio."""
