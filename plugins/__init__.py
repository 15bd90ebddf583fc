"""In-tree mandate plugins, one package each (found through the broker.plugins entry points)."""
