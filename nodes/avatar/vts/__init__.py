"""A thin asyncio client for the VTube Studio public API (WebSocket), with discovery and tokens."""
