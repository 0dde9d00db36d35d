"""The `tend` command: a thin shell over the application layer (tend/app)."""
