"""What people record: events, their validation, their bytes, the shared state."""
