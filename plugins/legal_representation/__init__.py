"""Legal representation: bewind, curatele, mentorschap and ouderlijk gezag."""

from plugins.legal_representation.plugin import LegalRepresentationPlugin

__all__ = ["LegalRepresentationPlugin"]
