"""Who may write and which entries count: one engine for ingest, verify, rotation, pairing."""
