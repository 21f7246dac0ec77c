// Starts Swagger UI on ESAP's OpenAPI document (a file, so the CSP needs no inline script).
// No deep links: they put a link inside each operation's toggle button (nested controls, WCAG 4.1.2).
const root = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({ url: root.dataset.specUrl, dom_id: "#swagger-ui", deepLinking: false });
