"""What the citizen plugins share: turning register mandates into options with names."""

from __future__ import annotations

from collections.abc import Sequence

from broker.identity import Link
from broker.identity import Party
from broker.pipeline import Option
from broker.register.lookup import UsableMandate


def citizen_options(mandates: Sequence[UsableMandate], source: str) -> list[Option]:
    """One option per mandate, for the person it names (with the name found beside it)."""
    options = []
    for mandate in mandates:
        party = Party(id=mandate.represented_id, id_type="bsn", name=mandate.name)
        link = Link(party=party, mandate_id=mandate.id, kind=mandate.kind, role=mandate.role,
                    services=tuple(mandate.services))
        options.append(Option(links=(link,), source=source))
    return options
