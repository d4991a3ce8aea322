// Swagger UI on the gateway's own OpenAPI document; its requests go to this origin (the document's server is '/').
window.ui = SwaggerUIBundle({
  url: '/api/openapi.json',
  dom_id: '#reference',
  deepLinking: true,
  tryItOutEnabled: false,
  presets: [SwaggerUIBundle.presets.apis],
});
