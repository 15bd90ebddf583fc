"""The broker's own pages and browser plumbing: flows, errors, language, security headers."""
