"""Connectors: upstream, where the person authenticates (mock DigiD, any SAML IdP).

A connector is found through the ``broker.connectors`` entry-point group and built as
``factory(name=..., context=..., **options)`` from its ``[connectors.<name>]`` config table.
"""

from __future__ import annotations

from typing import Protocol

from flask import Blueprint
from flask.typing import ResponseReturnValue

from broker.flow import Flow


class Connector(Protocol):
    #: instance name from config; also the URL segment under /connect/
    name: str
    #: what the person sees on the upstream choice page, e.g. "DigiD"
    label: str
    #: the kind of login: "digid" (citizens) or "eherkenning" (businesses)
    via: str
    #: mock connectors are refused unless broker.allow_mock_connectors is true
    is_mock: bool
    #: routes (ACS, SP metadata), mounted at /connect/<name>
    blueprint: Blueprint

    def start(self, flow: Flow) -> ResponseReturnValue:
        """Send the browser to the identity provider for ``flow``.

        Must call ``context.flows.upstream_started(flow, self.name, request_id)`` so that the
        answer can be tied back to the flow. The callback view, once the answer is shown to be
        genuine, claims the flow (``context.login.claimed``: errors then go to the relying
        party) and, after verifying it, answers with ``context.login.authenticated`` and the
        :class:`Identity` (see :class:`broker.context.LoginCallbacks`).
        """
        ...
