"""The local page (`tend ui`): a calm web page on this device over the application layer.

Served on 127.0.0.1 only, to the one browser that was handed the launch secret. Every action
calls the same tend.app function the command calls; this package adds forms, templates and
security, never what a person can do.
"""
