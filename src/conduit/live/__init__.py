"""Live updates: what committed writes push to connected WebSockets, on every instance."""
