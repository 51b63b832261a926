"""Request bodies as the OMS reads them: UTF-8 text, nested at most MAX_DEPTH deep, parsed once.

Python's json module recurses (a body nested a thousand deep raises RecursionError) and takes lone
surrogates and NaN that no store or channel accepts; pydantic-core's parser refuses those, and the
depth is checked on the text before anything is parsed. Each problem is its own 400.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic_core import from_json

from oms.errors import InvalidEncoding, InvalidJson, TooDeep

MAX_DEPTH = 64  # the deepest request model nests about 6; DynamoDB keeps 32 levels

_SIGNIFICANT = re.compile(r'[\[\]{}"\\]')


def text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEncoding(f"body is not UTF-8: byte 0x{body[exc.start]:02x} at position {exc.start}") from None


def check_depth(document: str, limit: int = MAX_DEPTH) -> None:
    if document.count("[") + document.count("{") <= limit:
        return  # too few brackets to go deeper (the common case: no scan)
    # One pass over the characters that matter, linear whatever the body holds (a regex over strings
    # backtracks on an unterminated one): brackets inside strings, escapes included, do not count.
    depth = 0
    in_string = False
    escaped_at = -1  # the position a backslash escapes
    for match in _SIGNIFICANT.finditer(document):
        char, at = match.group(), match.start()
        if in_string:
            if at == escaped_at:
                continue
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                raise TooDeep(f"body nests deeper than {limit} levels")
        elif char in "]}":
            depth -= 1


def check(body: bytes) -> str:
    """A body's text, UTF-8 and not too deep (a signed body, before it is stored unparsed)."""
    document = text(body)
    check_depth(document)
    return document


def loads(document: str | bytes) -> Any:
    """The one parse of a request body (Powertools' json_body_deserializer)."""
    document = text(document) if isinstance(document, bytes) else document
    check_depth(document)
    try:
        return from_json(document, allow_inf_nan=False)
    except ValueError as exc:  # the parser's message names the place, never the content
        raise InvalidJson(f"body is not valid JSON: {exc}") from None
