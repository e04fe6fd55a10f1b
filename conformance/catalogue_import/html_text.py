"""Squash rich-text descriptions (HTML) as plain text."""

from __future__ import annotations

from typing import Any

from conformance.catalogue_import.sheets import cell

_BLOCK_TAGS = ("p", "div", "li", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote")


def html_to_text(fragment: Any) -> str:
    """A Squash rich-text description as plain text: tags dropped, entities decoded, one line per
    paragraph, ``<br>`` or list item, blanks collapsed (lxml.html, never regular expressions on HTML)."""
    from lxml import etree
    from lxml import html as lxml_html

    text = cell(fragment)
    if not text:
        return ""
    if "<" in text or "&" in text:
        try:
            root = lxml_html.fragment_fromstring(text, create_parent="div")
        except (etree.ParserError, ValueError):
            root = None
        if root is not None:
            for element in [e for e in root.iter("script", "style")]:
                element.drop_tree()
            for element in root.iter("br"):
                element.tail = "\n" + (element.tail or "")
            for element in root.iter(*_BLOCK_TAGS):
                element.text = ("\n- " if element.tag == "li" else "\n") + (element.text or "")
                element.tail = "\n" + (element.tail or "")
            text = root.text_content()
    lines = (" ".join(line.split()) for line in text.replace("\r", "\n").splitlines())
    return "\n".join(line for line in lines if line)
