"""tend: a private, offline-first journal for two partners."""

__version__ = "0.1.0"
