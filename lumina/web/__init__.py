"""The web UI: HTML pages, their scripts and styles, vendored front-end libraries and offline map
tiles, served by ``lumina serve`` next to the REST API. The pages read and write only through the
JSON API (``lumina.api``), as any other client does."""
