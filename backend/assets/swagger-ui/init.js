// Starts Swagger UI on Natter's own OpenAPI document (a file, so the page needs no inline
// script under its Content-Security-Policy).
window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
});
