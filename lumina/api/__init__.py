"""The REST API (``lumina serve``)."""
