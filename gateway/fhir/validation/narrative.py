"""Narrative XHTML (R4 narrative.html, invariants txt-1 and txt-2): a single ``div`` in the XHTML
namespace, well-formed, holding only the basic formatting elements and attributes FHIR allows
(no scripts, forms, frames, objects or styles sheets; no event attributes such as ``onclick``;
no ``javascript:`` links; no DOCTYPE or entity declarations, so no external entities), and some
text or an image."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

XHTML = "{http://www.w3.org/1999/xhtml}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# HTML 4.0 chapters 7-11 and 15 (less section 4 of chapter 9), <a> and <img> (txt-1).
ELEMENTS = frozenset({
    "a", "abbr", "acronym", "address", "b", "big", "blockquote", "br", "caption", "center",
    "cite", "code", "col", "colgroup", "dd", "dfn", "del", "div", "dl", "dt", "em", "font",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre",
    "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody",
    "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var",
})
ATTRIBUTES = frozenset({
    "abbr", "accesskey", "align", "alt", "axis", "bgcolor", "border", "cellpadding",
    "cellspacing", "char", "charoff", "charset", "cite", "class", "clear", "color", "colspan",
    "compact", "coords", "datetime", "dir", "face", "frame", "headers", "height", "href",
    "hreflang", "hspace", "id", "lang", "name", "noshade", "nowrap", "rel", "rev", "rowspan",
    "rules", "scope", "shape", "size", "span", "src", "start", "style", "summary", "tabindex",
    "target", "title", "type", "valign", "value", "vspace", "width",
})
_DECLARATION = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


def xhtml_error(value: str) -> str | None:
    """Why ``value`` is not narrative FHIR allows, or None."""
    if _DECLARATION.search(value):
        return "Narrative xhtml may not declare a DOCTYPE or entities"
    try:
        root = ElementTree.fromstring(value)
    except ElementTree.ParseError as error:
        return f"Narrative xhtml is not well-formed XML: {error}"
    if root.tag != f"{XHTML}div":
        return "Narrative xhtml must be a single <div> in the XHTML namespace " \
               "(xmlns=\"http://www.w3.org/1999/xhtml\")"
    for element in root.iter():
        tag = element.tag
        if not isinstance(tag, str) or not tag.startswith(XHTML):
            return f"Narrative xhtml may only hold XHTML elements, not {tag!r}"
        name = tag[len(XHTML):]
        if name not in ELEMENTS:
            return f"Narrative xhtml may not contain <{name}> (txt-1)"
        for attribute, text in element.attrib.items():
            if attribute == XML_LANG:
                continue
            if attribute not in ATTRIBUTES:
                return f"Narrative xhtml may not use the attribute {attribute!r} on <{name}>" \
                       " (txt-1)"
            if attribute in ("href", "src") and text.strip().lower().startswith(
                    ("javascript:", "vbscript:", "data:text/html")):
                return f"Narrative xhtml may not link to script ({attribute} on <{name}>)"
    text = "".join(root.itertext()).strip()
    if not text and root.find(f".//{XHTML}img") is None:
        return "Narrative xhtml must have some text or an image (txt-2)"
    return None
