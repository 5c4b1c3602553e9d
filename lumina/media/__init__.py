"""Adapters to external tools: the only code that spawns processes or parses media bytes."""
