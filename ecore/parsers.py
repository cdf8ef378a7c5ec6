"""The API's JSON parser: DRF's, bounded in depth and refusing numbers JSON cannot carry back.

Python's parser recurses once per level and raises RecursionError (a 500) near a thousand; far
below that, a deep document still makes the input cache's pickle, jsonb and the XML renderer
recurse. No document the API takes is more than a few levels deep.
"""

import codecs
import json
import math

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

MAX_JSON_DEPTH = 64
TOO_DEEP = f"JSON nested more than {MAX_JSON_DEPTH} levels deep."


def _finite_float(text: str) -> float:
    value = float(text)
    # 1e400 parses to infinity, which neither jsonb nor the strict JSON renderer accepts.
    if math.isinf(value):
        raise ValueError(f"Out of range float values are not JSON compliant: {text[:40]}")
    return value


def nested_deeper_than(document, limit: int) -> bool:
    """Whether `document` has more than `limit` levels of lists and objects, walked level by level."""
    level = [document] if isinstance(document, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [child for container in level
                 for child in (container.values() if isinstance(container, dict) else container)
                 if isinstance(child, dict | list)]
    return False


def json_loads(text: str):
    """`text` parsed as strict JSON no deeper than MAX_JSON_DEPTH; ValueError otherwise."""
    try:
        document = json.loads(text, parse_constant=strict_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(TOO_DEEP) from None
    if nested_deeper_than(document, MAX_JSON_DEPTH):
        raise ValueError(TOO_DEEP)
    return document


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            return json_loads(codecs.getreader(encoding)(stream).read())
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
