"""Ketenmachtiging: an intermediary's employee acts for the intermediary's clients."""

from plugins.chain_mandates.plugin import ChainMandatesPlugin

__all__ = ["ChainMandatesPlugin"]
