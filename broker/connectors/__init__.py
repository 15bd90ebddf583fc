"""Connectors: upstream, where the person authenticates (mock DigiD, any SAML IdP).

A connector is found through the ``broker.connectors`` entry-point group and built as
``factory(name=..., context=..., **options)`` from its ``[connectors.<name>]`` config table;
what it must offer is :class:`broker.components.Connector`.
"""
