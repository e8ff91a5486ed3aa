"""Work-order parts of the console (live.py: work-order changes on the WebSocket)."""
