"""The audit trail: ``broker audit verify`` and ``broker audit show``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from broker.cli.common import config_option
from broker.cli.common import instance_option
from broker.cli.common import with_database


@click.group("audit")
def audit_group() -> None:
    """The hash-chained audit trail."""


@audit_group.command("verify")
@click.option("--head", "head", default=None, metavar="HASH",
              help="A head hash kept from an earlier verify: it must still be in the trail.")
@instance_option
@config_option
def audit_verify(head: str | None, instance: Path, config: Path | None) -> None:
    """Check the whole chain; name the first changed, removed or inserted entry.

    Exit status 0 when the trail is intact, 1 when it is broken.
    """
    from broker import audit

    if head is not None and not audit.is_hash(head.strip().lower()):
        raise click.BadParameter("64 hexadecimal digits", param_hint="--head")

    def run(session: Any) -> None:
        result = audit.verify(session, head=head)
        if result.ok:
            click.echo(f"audit trail intact: {result.checked} entries, head {result.head}")
            return
        where = f" at entry {result.first_broken}" if result.first_broken is not None else ""
        click.echo(f"audit trail broken{where}: {result.reason}")
        click.echo(f"  {result.checked} entries intact before it; last intact hash "
                   f"{result.head}")
        sys.exit(1)

    with_database(instance, config, run)


@audit_group.command("show")
@click.option("--last", "last", default=20, show_default=True, type=click.IntRange(1, 100_000),
              help="How many of the newest entries.")
@instance_option
@config_option
def audit_show(last: int, instance: Path, config: Path | None) -> None:
    """Print the newest entries, oldest first, one line each."""
    from broker import audit

    def run(session: Any) -> None:
        for entry in reversed(audit.recent(session, last)):
            click.echo(entry.line())

    with_database(instance, config, run)
