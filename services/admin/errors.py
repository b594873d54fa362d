"""Error answers every API operation documents, so clients (and schemathesis) know them."""

from typing import Any, TypeVar

from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_401_UNAUTHORIZED, HTTP_404_NOT_FOUND, HTTP_409_CONFLICT
from pydantic import BaseModel

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
