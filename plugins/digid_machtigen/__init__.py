"""DigiD Machtigen: voluntary mandates from one citizen to another."""

from plugins.digid_machtigen.plugin import DigidMachtigenPlugin

__all__ = ["DigidMachtigenPlugin"]
