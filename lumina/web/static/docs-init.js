// Swagger UI for /openapi.json; requests carry the session cookie (same origin), writes its CSRF token.
window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true});
