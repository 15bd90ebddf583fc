"""What the citizen plugins share: turning register mandates into options with names."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from broker.identity import Link
from broker.identity import Party
from broker.pipeline import Option
from broker.register.models import Mandate
from broker.register.models import Person


def citizen_options(session: Session, mandates: Sequence[Mandate], source: str) -> list[Option]:
    options = []
    for mandate in mandates:
        person = session.get(Person, mandate.represented_id)
        party = Party(id=mandate.represented_id, id_type="bsn",
                      name=person.name if person else None)
        link = Link(party=party, mandate_id=mandate.id, kind=mandate.kind, role=mandate.role,
                    services=tuple(mandate.services))
        options.append(Option(links=(link,), source=source))
    return options
