"""The ``broker`` command: run the demo, check a config, register relying parties.

Every command that changes data acts on an instance folder (``--instance``, default
``./instance``), the same one a running ``broker demo`` uses, so a tester can register a client
while the demo runs. One module per group of commands; :mod:`broker.cli.common` holds what
they share.
"""

from __future__ import annotations

import click

from broker.cli import administrators
from broker.cli import audit
from broker.cli import database
from broker.cli import mandates
from broker.cli import relying_parties
from broker.cli import running


@click.group()
def main() -> None:
    """An identity broker for logging in on behalf of someone else."""


for command in (
    running.demo, running.serve, running.totp, running.check_config, running.housekeeping_command,
    relying_parties.clients, relying_parties.service_providers, mandates.mandates,
    database.database, audit.audit_group, administrators.administrators,
):
    main.add_command(command)
