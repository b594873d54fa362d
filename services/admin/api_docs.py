"""``/schema/swagger``: Swagger UI served from ``/static/swagger-ui`` under the pages' CSP;
``/schema/asyncapi.json``: the AsyncAPI document of the messages (``docs/asyncapi.json``).

Litestar's own page loads Swagger UI from a CDN and starts it with an inline script holding
the whole document; this one has no inline script (``static/swagger-init.js`` starts the
viewer, which fetches the document with the caller's session or token) and no other origin.
"""

import asyncio
from html import escape
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.enums import MediaType
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.status_codes import HTTP_404_NOT_FOUND

ASSETS = "/static/swagger-ui"
SCHEMA_PATH = "/schema"
ASYNCAPI_PATH = f"{SCHEMA_PATH}/asyncapi.json"
# A link to docs/asyncapi.json (services/asyncapi.py writes it), installed with the package.
ASYNCAPI_FILE = Path(__file__).parent / "asyncapi.json"


@get(ASYNCAPI_PATH, include_in_schema=False)
async def asyncapi_document() -> Response[Any]:
    """The document, or (in an installation made without it) a 404 in JSON, for the scripts
    that read it."""
    try:
        document = await asyncio.to_thread(ASYNCAPI_FILE.read_bytes)
    except FileNotFoundError:
        detail = ("the AsyncAPI document is not installed with the admin"
                  " (services/admin/asyncapi.json, a link to docs/asyncapi.json)")
        return Response({"status_code": HTTP_404_NOT_FOUND, "detail": detail},
                        status_code=HTTP_404_NOT_FOUND)
    return Response(document, media_type=MediaType.JSON)


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
