"""Small lxml helpers for tests that take a SAML document apart."""

from __future__ import annotations

from lxml import etree


def child(parent: etree._Element, path: str) -> etree._Element:
    """The element at ``path`` under ``parent``, which the test knows is there."""
    found = parent.find(path)
    assert found is not None, f"no {path} under {parent.tag}"
    return found
