"""Error answers every API operation documents, so clients (and schemathesis) know them,
and the 404 of a path nothing answers."""

from typing import Any, TypeVar

from litestar import Response
from litestar.exceptions import NotFoundException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
)
from pydantic import BaseModel

from services.admin.rendering import AnyRequest, not_found
from services.admin.security_headers import security_headers

T = TypeVar("T")


class ErrorBody(BaseModel):
    """Litestar's error answer: the status, a sentence saying what to do, and field errors."""

    status_code: int
    detail: str
    extra: dict[str, Any] | list[Any] | None = None


def spec(description: str) -> ResponseSpec:
    return ResponseSpec(ErrorBody, description=description)


UNAUTHORIZED = {
    HTTP_401_UNAUTHORIZED: spec("No or a wrong 'Authorization: Bearer <token>' header"),
}


def responses(*, not_found: str | None = None, conflict: str | None = None,
              more: dict[int, str] | None = None) -> dict[int, ResponseSpec]:
    answers = dict(UNAUTHORIZED)
    if not_found:
        answers[HTTP_404_NOT_FOUND] = spec(not_found)
    if conflict:
        answers[HTTP_409_CONFLICT] = spec(conflict)
    answers.update({code: spec(text) for code, text in (more or {}).items()})
    return answers


def found(value: T | None, what: str, key: object) -> T:
    """``value``, or the 404 answer saying there is no ``what`` with id ``key``."""
    if value is None:
        raise NotFoundException(f"no {what} with id {key}")
    return value


def not_found_answer(request: AnyRequest, exc: NotFoundException) -> Response[Any]:
    """A 404 in the asker's language: JSON under ``/api/``, the console's page elsewhere.

    A path that no route matches (a file id that is not a UUID does not) says so in full;
    Litestar's own answer is a bare "Not Found".
    """
    path = request.url.path
    answer: Response[Any]
    if path != "/api" and not path.startswith("/api/"):
        answer = not_found(request, section="", text=f"There is no page at {path}.")
    else:
        detail = exc.detail if "route_handler" in request.scope else (
            f"no API operation answers {request.method} {path}: check the path and the form "
            "of its id (a file id is a UUID, a server id a number); /schema lists every "
            "operation")
        answer = Response({"status_code": HTTP_404_NOT_FOUND, "detail": detail},
                          status_code=HTTP_404_NOT_FOUND)
    answer.headers.update(security_headers(path))
    return answer


_NO_BODY = {"message": "'data'", "key": "data", "source": "body"}


def validation_answer(request: AnyRequest, exc: ValidationException) -> Response[Any]:
    """Litestar's 400, but a missing body says so (Litestar's own words are ``'data'``)."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    detail = exc.detail
    if _NO_BODY in extra:
        detail = (f"{request.method} {request.url.path} needs a JSON object as its body; "
                  "/schema shows its fields")
        extra = [item for item in extra if item != _NO_BODY]
    body = {"status_code": HTTP_400_BAD_REQUEST, "detail": detail}
    if extra:
        body["extra"] = extra
    return Response(body, status_code=HTTP_400_BAD_REQUEST)
