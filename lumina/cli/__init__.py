"""The ``lumina`` command: one module per command; each parses, calls the library, prints."""
