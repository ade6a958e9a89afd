"""Stripe's request parameters and error answers: form-encoded bodies and query strings with
nested brackets (``a[b][c]=1``, indexed lists ``expand[0]=x`` and ``expand[]=x``) decoded
into dicts and lists, the checks of single parameters with Stripe's messages, and ApiError,
the ``{"error": {...}}`` answer with its HTTP status."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY = 40
MAX_METADATA_VALUE = 500


class ApiError(Exception):
    """An error answer, ``{"error": {"type", "code", "decline_code", "message", "param"}}``.
    ``saved``: whether an Idempotency-Key keeps it (Stripe keeps no answer to a request
    whose parameters failed validation, nor a 5xx)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        headers: dict[str, str] | None = None,
        saved: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.headers = headers or {}
        self.saved = saved and status < 500
        self.extra = extra or {}

    def payload(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "type": self.type,
            "code": self.code,
            "decline_code": self.decline_code,
            "message": self.message,
            "param": self.param,
        }
        if self.code:
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    """A parameter that failed validation (400; not kept for its Idempotency-Key)."""
    return ApiError(400, message, param=param, code=code, saved=False)


def missing(param: str) -> ApiError:
    return ApiError(
        400,
        f"Missing required param: {param}.",
        param=param,
        code="parameter_missing",
        saved=False,
    )


def not_found(noun: str, ident: str, param: str = "id", status: int = 404) -> ApiError:
    return ApiError(
        status, f"No such {noun}: '{ident}'", code="resource_missing", param=param, saved=False
    )


# -- decoding -----------------------------------------------------------------------------------

_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def decode(raw: str) -> dict[str, Any]:
    """``a[b][0][c]=1&expand[]=x`` → ``{"a": {"b": [{"c": "1"}]}, "expand": ["x"]}``. A dict
    whose keys are all numbers becomes a list in their order."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        match = _KEY.fullmatch(key)
        if match is None:
            raise invalid(f"Invalid request: the parameter name {key!r} is malformed.")
        path = [match[1], *_SEGMENT.findall(match[2])]
        node = root
        for depth, segment in enumerate(path):
            if segment == "":  # expand[]=x: the next index
                segment = str(sum(1 for name in node if name.isdigit()))
            last = depth == len(path) - 1
            if last:
                if isinstance(node.get(segment), dict):
                    raise invalid(f"Invalid request: {key} conflicts with another parameter.", key)
                node[segment] = value
            else:
                child = node.setdefault(segment, {})
                if not isinstance(child, dict):
                    raise invalid(f"Invalid request: {key} conflicts with another parameter.", key)
                node = child
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {name: _listify(value) for name, value in node.items()}
    if items and all(name.isdigit() for name in items):
        return [items[name] for name in sorted(items, key=int)]
    return items


# -- single parameters --------------------------------------------------------------------------


def reject_unknown(
    params: dict[str, Any], allowed: set[str] | frozenset[str], prefix: str = ""
) -> None:
    for name in params:
        if name not in allowed:
            full = f"{prefix}[{name}]" if prefix else name
            raise invalid(f"Received unknown parameter: {full}", full, "parameter_unknown")


def text(params: dict[str, Any], name: str, param: str | None = None) -> str | None:
    """A string parameter; None when absent or empty (Stripe reads "" as unset)."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {param or name} must be a string.", param or name)
    return value


def integer(
    params: dict[str, Any],
    name: str,
    param: str | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = text(params, name, param)
    if raw is None:
        return None
    param = param or name
    if not re.fullmatch(r"-?\d{1,18}", raw.strip()):
        raise invalid(f"Invalid integer: {raw}", param, "parameter_invalid_integer")
    value = int(raw)
    if minimum is not None and value < minimum:
        message = (
            "Invalid positive integer" if minimum == 1 else f"This value must be >= {minimum}."
        )
        raise invalid(message, param)
    if maximum is not None and value > maximum:
        raise invalid(f"This value must be less than or equal to {maximum}.", param)
    return value


def choice(
    params: dict[str, Any], name: str, options: tuple[str, ...], param: str | None = None
) -> str | None:
    value = text(params, name, param)
    if value is not None and value not in options:
        param = param or name
        listed = ", ".join(options[:-1]) + f", or {options[-1]}" if len(options) > 1 else options[0]
        raise invalid(f"Invalid {param}: must be one of {listed}", param)
    return value


def nested(params: dict[str, Any], name: str, param: str | None = None) -> dict[str, Any]:
    value = params.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: {param or name} must be a hash.", param or name)
    return value


def listing(params: dict[str, Any], name: str, param: str | None = None) -> list[Any]:
    value = params.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, str):  # expand=x: one item
        return [value]
    if not isinstance(value, list):
        raise invalid(f"Invalid array: {param or name} must be an array.", param or name)
    return value


def metadata(params: dict[str, Any], name: str = "metadata", param: str | None = None) -> dict:
    """Stripe's metadata: at most 50 keys, keys up to 40 characters, values up to 500;
    an empty value drops its key."""
    param = param or name
    value = nested(params, name, param)
    if len(value) > MAX_METADATA_KEYS:
        raise invalid(f"Invalid {param}: at most {MAX_METADATA_KEYS} keys.", param)
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid(f"Invalid {param}[{key}]: metadata values must be strings.", param)
        if len(key) > MAX_METADATA_KEY:
            raise invalid(
                f"Metadata keys can have up to {MAX_METADATA_KEY} characters; {key!r} is longer.",
                f"{param}[{key}]",
            )
        if len(item) > MAX_METADATA_VALUE:
            raise invalid(
                f"Metadata values can have up to {MAX_METADATA_VALUE} characters.",
                f"{param}[{key}]",
            )
        if item != "":
            result[key] = item
    return result


def url(params: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = text(params, name)
    if value is None:
        if required:
            raise missing(name)
        return None
    if not re.match(r"https?://[^\s/]+", value) or any(c.isspace() for c in value):
        raise invalid("Not a valid URL", name, "url_invalid")
    return value


def created_filter(params: dict[str, Any]) -> list[tuple[str, int]]:
    """``created=T`` or ``created[gte|gt|lte|lt]=T`` → [(operator, T)]."""
    raw = params.get("created")
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        return [("eq", integer(params, "created") or 0)]
    if not isinstance(raw, dict):
        raise invalid("Invalid created: must be an integer or a hash.", "created")
    reject_unknown(raw, {"gt", "gte", "lt", "lte"}, "created")
    bounds = []
    for operator in ("gt", "gte", "lt", "lte"):
        value = integer(raw, operator, f"created[{operator}]")
        if value is not None:
            bounds.append((operator, value))
    return bounds


def created_matches(created: int, bounds: list[tuple[str, int]]) -> bool:
    for operator, value in bounds:
        if operator == "eq" and created != value:
            return False
        if operator == "gt" and not created > value:
            return False
        if operator == "gte" and not created >= value:
            return False
        if operator == "lt" and not created < value:
            return False
        if operator == "lte" and not created <= value:
            return False
    return True
