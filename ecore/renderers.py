"""`Accept: application/xml`: the same documents as JSON, as XML.

The document is the children of one `<response>` element; a list is repeated `<item>` elements;
None is an empty element; true/false are lowercase. A key that is not a valid XML name (a space,
a leading digit, a colon…) is sanitized the same way everywhere: each invalid character becomes
"_", a name that cannot start with its first character gets a leading "_", and the original key is
kept in a `key` attribute, so nothing is lost.
"""

import datetime
import re
from decimal import Decimal
from xml.etree.ElementTree import Element, SubElement, tostring

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer

# XML 1.0 (5th edition) name characters, without ":", which parsers read as a namespace prefix.
_NAME_START_CHARS = ("A-Z_a-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d"
                     "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff")
_NAME_CHARS = _NAME_START_CHARS + r"\-.0-9\u00b7\u0300-\u036f\u203f-\u2040"
_INVALID_NAME_CHAR = re.compile(f"[^{_NAME_CHARS}]")
_NAME_START = re.compile(f"[{_NAME_START_CHARS}]")
# Characters XML 1.0 cannot carry at all, even escaped (most control characters).
_INVALID_TEXT_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_name(key) -> str:
    name = _INVALID_NAME_CHAR.sub("_", str(key))
    if not name or not _NAME_START.match(name):
        name = "_" + name
    return name


def _xml_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return _INVALID_TEXT_CHAR.sub("\ufffd", str(value))


def _fill(element: Element, value) -> None:
    if value is None:
        return
    if isinstance(value, dict):
        for key, child_value in value.items():
            child = SubElement(element, xml_name(key))
            if child.tag != str(key):
                child.set("key", _xml_text(key))
            _fill(child, child_value)
    elif isinstance(value, list | tuple):
        for item in value:
            _fill(SubElement(element, "item"), item)
    else:
        element.text = _xml_text(value)


class XMLRenderer(BaseRenderer):
    media_type = "application/xml"
    format = "xml"
    charset = "utf-8"
    root_tag_name = "response"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        root = Element(self.root_tag_name)
        _fill(root, data)
        return tostring(root, encoding="utf-8", xml_declaration=True)


class JsonFirstNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, answered at once for what nearly every client sends (no Accept, `*/*` or
    `application/json`) when JSON is the first renderer: the general path parses and ranks the
    header on every request."""

    def select_renderer(self, request, renderers, format_suffix=None):
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        if not format_suffix and accept in _JSON_ACCEPTS and renderers and renderers[0].media_type == "application/json":
            return renderers[0], "application/json"
        return super().select_renderer(request, renderers, format_suffix)


_JSON_ACCEPTS = frozenset({"*/*", "application/json"})
