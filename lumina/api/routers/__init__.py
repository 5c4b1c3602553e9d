"""FastAPI routers by resource, included by ``lumina.api.app.create_app``."""
