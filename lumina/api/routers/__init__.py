"""The REST API's routers, one per resource; ``lumina.api.app.create_app`` includes them in this order."""
