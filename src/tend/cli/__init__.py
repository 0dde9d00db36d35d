"""The `tend` command."""
