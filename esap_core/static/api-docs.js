// Starts Swagger UI on ESAP's OpenAPI document (a file, so the CSP needs no inline script).
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({ url: root.dataset.specUrl, dom_id: "#swagger-ui", deepLinking: true });
