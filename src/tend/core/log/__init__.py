"""The keyless log: entry frame, chain rule, stores, and the public records the relay may check."""
