// Starts the vendored Swagger UI of /schema/swagger; a file of its own, as the CSP allows
// no inline script. The document comes from the same origin, with the caller's session.
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.document,
    dom_id: "#swagger-ui",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis],
  });
})();
