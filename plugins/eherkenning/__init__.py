"""Company representation vouched for upstream: an eHerkenning login names the organisation."""

from plugins.eherkenning.plugin import EherkenningPlugin

__all__ = ["EherkenningPlugin"]
