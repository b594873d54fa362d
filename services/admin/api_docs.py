"""``/schema/swagger``: Swagger UI served from ``/static/swagger-ui`` under the pages' CSP.

Litestar's own page loads Swagger UI from a CDN and starts it with an inline script holding
the whole document; this one has no inline script (``static/swagger-init.js`` starts the
viewer, which fetches the document with the caller's session or token) and no other origin.
"""

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import SwaggerRenderPlugin

ASSETS = "/static/swagger-ui"
SCHEMA_PATH = "/schema"


class VendoredSwagger(SwaggerRenderPlugin):
    def __init__(self) -> None:
        super().__init__(js_url=f"{ASSETS}/swagger-ui-bundle.js",
                         css_url=f"{ASSETS}/swagger-ui.css",
                         favicon="<link rel='icon' href='/static/favicon.svg'>")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        document = f"{SCHEMA_PATH}/openapi.json"
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{escape(openapi_schema["info"]["title"])}</title>
  {self.favicon}
  <link rel="stylesheet" href="{self.css_url}">
</head>
<body>
  <div id="swagger-ui" data-document="{escape(document)}"></div>
  <script src="{self.js_url}"></script>
  <script src="/static/swagger-init.js"></script>
</body>
</html>
""".encode()
