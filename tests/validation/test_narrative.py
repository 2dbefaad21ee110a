"""Narrative XHTML (R4 narrative.html, txt-1 and txt-2)."""
from __future__ import annotations

import pytest

from gateway.fhir.validation import Validator

DIV = '<div xmlns="http://www.w3.org/1999/xhtml">{}</div>'


def with_text(div: str) -> dict:
    return {"resourceType": "Patient", "text": {"status": "generated", "div": div}}


@pytest.mark.parametrize("div", [
    DIV.format("<p>Elena <b>Martínez</b>, <a href=\"http://example.org\">site</a></p>"),
    DIV.format('<table border="1"><tr><td colspan="2" style="color:red">x</td></tr></table>'),
    DIV.format('<img src="#photo" alt="photo"/>'),
    '<div xmlns="http://www.w3.org/1999/xhtml" xml:lang="es" lang="es">hola</div>',
])
def test_allowed_narrative(validator: Validator, div: str) -> None:
    assert validator.validate(with_text(div), expected_type="Patient") == []


@pytest.mark.parametrize(("div", "why"), [
    ("<div>no namespace</div>", "XHTML namespace"),
    (DIV.format("<script>alert(1)</script>"), "<script>"),
    (DIV.format('<p onclick="steal()">x</p>'), "'onclick'"),
    (DIV.format('<a href="javascript:steal()">x</a>'), "script"),
    (DIV.format("<form><input/></form>"), "<form>"),
    (DIV.format("<p>unclosed"), "well-formed"),
    ('<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + DIV.format("&x;"),
     "DOCTYPE"),
    (DIV.format("   "), "txt-2"),
    ("<p xmlns=\"http://www.w3.org/1999/xhtml\">not a div</p>", "single <div>"),
])
def test_refused_narrative(validator: Validator, div: str, why: str) -> None:
    issues = validator.validate(with_text(div), expected_type="Patient")
    assert [i.expression for i in issues] == ["Patient.text.div"]
    assert why in issues[0].diagnostics
