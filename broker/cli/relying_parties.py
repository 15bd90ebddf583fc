"""Registering relying parties: ``broker clients add`` (OpenID Connect) and ``broker sp add``
(SAML service providers, by their metadata).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import click

from broker.cli.common import audit_admin
from broker.cli.common import catalogue_of
from broker.cli.common import config_option
from broker.cli.common import instance_option
from broker.cli.common import with_database


@click.group()
def clients() -> None:
    """OpenID Connect relying parties."""


@clients.command("add")
@click.option("--client-id", required=True)
@click.option("--redirect-uri", "redirect_uris", required=True, multiple=True,
              help="Exact redirect URI; repeat for several.")
@click.option("--secret", default=None, help="At least 32 characters; generated when omitted.")
@click.option("--claims", "claims_profile", type=click.Choice(["nlgov", "act"]), default="nlgov",
              show_default=True, help="nlgov: sub acts, 'represents' nests; act: RFC 8693.")
@click.option("--bsn", "may_receive_bsn", is_flag=True, help="This client may receive the BSN.")
@click.option("--name", default=None, help="Name people see while logging in (default: the id).")
@instance_option
@config_option
def clients_add(client_id: str, redirect_uris: tuple[str, ...], secret: str | None,
                claims_profile: str, may_receive_bsn: bool, name: str | None, instance: Path,
                config: Path | None) -> None:
    """Register (or update) an OIDC client."""
    from broker.frontends.oidc.clients import register_client

    def register(session: Any) -> None:
        audit_admin(session, "admin.client_added", client_id, {
            "redirect_uris": list(redirect_uris), "claims_profile": claims_profile,
            "may_receive_bsn": may_receive_bsn, "name": name, "secret_generated": secret is None})
        generated = register_client(
            session, client_id=client_id, redirect_uris=list(redirect_uris), secret=secret,
            claims_profile=claims_profile, may_receive_bsn=may_receive_bsn, name=name)
        click.echo(f"client {client_id} registered ({claims_profile}"
                   f"{', may receive the BSN' if may_receive_bsn else ''})")
        if generated:
            click.echo(f"client secret (shown once): {generated}")

    with_database(instance, config, register)


@click.group("sp")
def service_providers() -> None:
    """SAML service providers."""


@service_providers.command("add")
@click.option("--metadata", "source", required=True, help="Metadata file path or http(s) URL.")
@click.option("--service", default=None, help="Default ServiceUUID for this SP.")
@instance_option
@config_option
def sp_add(source: str, service: str | None, instance: Path, config: Path | None) -> None:
    """Register (or replace) a SAML service provider by its metadata."""
    from broker.frontends.saml_idp.providers import load_metadata
    from broker.frontends.saml_idp.providers import register_service_provider

    def register(session: Any) -> None:
        catalogue = catalogue_of(session)
        document = load_metadata(source)
        audit_admin(session, "admin.sp_added", _entity_id(document), {
            "source": source, "service": service,
            "metadata_sha256": hashlib.sha256(document).hexdigest()})
        provider = register_service_provider(
            session, metadata=document, service=service, catalogue=catalogue)
        click.echo(f"service provider {provider.entity_id} registered "
                   f"(default service {provider.default_service or '-'}, "
                   f"{len(provider.services_by_index)} indexed service(s))")

    with_database(instance, config, register)


def _entity_id(document: bytes) -> str | None:
    """The entityID of SAML metadata, or None when unreadable (the registration refuses it)."""
    from broker.saml.xml import XmlError
    from broker.saml.xml import parse

    try:
        return parse(document).get("entityID")
    except XmlError:
        return None
