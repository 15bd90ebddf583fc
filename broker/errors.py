"""The broker's one error tree. Each class knows how to answer in every protocol.

::

    BrokerError                        public_message, http_status, oidc_error, saml_status
    ├── ConfigError                    start-up only; names the bad key
    ├── FlowError                      no, expired, foreign or replayed flow step
    ├── RequestError                   the relying party's request is invalid
    │   ├── UnknownRequesterError      unknown client / SP: never answer back to it
    │   ├── UnknownServiceError        the requested service is not in the catalogue
    │   ├── NoLoginMethodError         no configured connector serves the service
    │   └── InsufficientLoaError       the service needs more assurance than was reached
    ├── UpstreamError                  the connector could not obtain a usable identity
    │   ├── UpstreamCancelledError     the person cancelled at the identity provider
    │   └── UpstreamResponseError      bad signature, audience, InResponseTo, time, replay
    │       └── UpstreamAnswerUsedError  the answer's request was used already (or a race)
    ├── RepresentationError            the person may not act as asked
    ├── MalformedInputError            the request's bytes cannot be read (NUL, a broken body)
    └── ServiceUnavailableError        a part the broker needs does not answer: try again later

``public_message`` is shown to a person (Dutch, then English); ``detail`` is for the log and
must never hold personal data. ``retry_after`` (seconds) is set where trying again later can
help. Nothing in this module imports Flask.

An error raised in a step of the login can carry the flow it belongs to
(:meth:`BrokerError.in_flow`): the answer to it then goes to that flow's relying party.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Self
from typing import overload

from broker.text import Bilingual

if TYPE_CHECKING:
    from broker.flow import Flow

SAML_REQUESTER = "urn:oasis:names:tc:SAML:2.0:status:Requester"
SAML_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
SAML_AUTHN_FAILED = "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"
SAML_NO_AUTHN_CONTEXT = "urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext"
SAML_REQUEST_DENIED = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
SAML_REQUEST_UNSUPPORTED = "urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported"
SAML_NO_AVAILABLE_IDP = "urn:oasis:names:tc:SAML:2.0:status:NoAvailableIDP"

#: the parts :class:`ServiceUnavailableError` names: the SQL database, the short-lived state
DATABASE = "database"
STATE = "state"


class InputError(ValueError):
    """An administrator's or person's input is refused; the message says why, for them to read.

    Not part of the protocol tree: raised by registrations, imports and forms, before anything
    is changed. Made from the two halves (``InputError(nl, en)``) or from a :class:`Bilingual`
    (kept as :attr:`text`); :attr:`nl` and :attr:`en` give each half, ``str()`` both as
    "Dutch / English" (what the log and the command line show).
    """

    @overload
    def __init__(self, nl: Bilingual, /) -> None: ...

    @overload
    def __init__(self, nl: str, en: str, /) -> None: ...

    def __init__(self, nl: Bilingual | str, en: str | None = None, /) -> None:
        if isinstance(nl, Bilingual):
            self.text = nl
        elif en is None:
            raise TypeError("InputError needs both the Dutch and the English text")
        else:
            self.text = Bilingual(nl, en)
        super().__init__(str(self.text))

    def __reduce__(self) -> tuple[type[InputError], tuple[Bilingual]]:
        return self.__class__, (self.text,)

    @property
    def nl(self) -> str:
        return self.text.nl

    @property
    def en(self) -> str:
        return self.text.en


class BrokerError(Exception):
    """Base class. Subclasses set the class attributes; ``detail`` goes to the log only."""

    public_message: Bilingual = Bilingual(
        "Er ging iets mis bij het inloggen.",
        "Something went wrong while logging in.")
    http_status: int = 400
    oidc_error: str = "server_error"
    saml_status: tuple[str, str | None] = (SAML_RESPONDER, None)
    #: seconds after which trying again may succeed (HTTP Retry-After); None: it will not
    retry_after: int | None = None
    #: the flow the error belongs to, once placed (:meth:`in_flow`); None: no flow, or unknown
    flow: Flow | None = None
    _placed: bool = False

    def __init__(self, detail: str = "", *, public_nl: str | None = None,
                 public_en: str | None = None) -> None:
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail
        if public_nl is not None or public_en is not None:
            self.public_message = Bilingual(public_nl or self.public_message.nl,
                                            public_en or self.public_message.en)

    @property
    def public_message_nl(self) -> str:
        return self.public_message.nl

    @property
    def public_message_en(self) -> str:
        return self.public_message.en

    def in_flow(self, flow: Flow | None) -> Self:
        """This error, belonging to ``flow`` (None: to no flow, even inside one: nothing is
        said to a relying party), unless the step that raised it placed it already; the
        innermost step knows best."""
        if not self._placed:
            self.flow, self._placed = flow, True
        return self


class ConfigError(BrokerError):
    http_status = 500
    public_message = Bilingual(
        "De broker is niet goed ingesteld.",
        "The broker is not configured correctly.")


class FlowError(BrokerError):
    public_message = Bilingual(
        "Deze inlogpoging is verlopen of al afgerond.",
        "This login attempt has expired or was already completed.")


class RequestError(BrokerError):
    oidc_error = "invalid_request"
    saml_status: tuple[str, str | None] = (SAML_REQUESTER, None)
    public_message = Bilingual(
        "De dienst stuurde een ongeldig inlogverzoek.",
        "The service sent an invalid login request.")


class UnknownRequesterError(RequestError):
    oidc_error = "invalid_client"
    public_message = Bilingual(
        "De dienst die u hierheen stuurde is bij ons niet bekend.",
        "The service that sent you here is not known to us.")


class UnknownServiceError(RequestError):
    oidc_error = "invalid_scope"
    saml_status: tuple[str, str | None] = (SAML_REQUESTER, SAML_REQUEST_UNSUPPORTED)
    public_message = Bilingual(
        "De gevraagde dienst is bij ons niet bekend.",
        "The requested service is not known to us.")


class NoLoginMethodError(RequestError):
    http_status = 503
    oidc_error = "temporarily_unavailable"
    saml_status: tuple[str, str | None] = (SAML_RESPONDER, SAML_NO_AVAILABLE_IDP)
    public_message = Bilingual(
        "Voor deze dienst kunt u hier op dit moment niet inloggen.",
        "You cannot log in to this service here at the moment.")


class InsufficientLoaError(RequestError):
    http_status = 403
    oidc_error = "access_denied"
    saml_status: tuple[str, str | None] = (SAML_RESPONDER, SAML_NO_AUTHN_CONTEXT)
    public_message = Bilingual(
        "Uw inlogmiddel heeft een te laag betrouwbaarheidsniveau voor deze dienst.",
        "Your login method's level of assurance is too low for this service.")


class UpstreamError(BrokerError):
    http_status = 502
    oidc_error = "access_denied"
    saml_status: tuple[str, str | None] = (SAML_RESPONDER, SAML_AUTHN_FAILED)
    public_message = Bilingual(
        "Inloggen is niet gelukt.",
        "Logging in did not succeed.")


class UpstreamCancelledError(UpstreamError):
    http_status = 400
    public_message = Bilingual(
        "U heeft het inloggen geannuleerd.",
        "You cancelled logging in.")


class UpstreamResponseError(UpstreamError):
    http_status = 400
    public_message = Bilingual(
        "Het antwoord van het inlogmiddel kon niet worden gecontroleerd.",
        "The answer from the login service could not be verified.")


class UpstreamAnswerUsedError(UpstreamResponseError):
    """The request an upstream answer responds to was used up already: a replay, or the loser
    of a race with the same answer. Refused on a page only: the flow belongs to the answer
    that was accepted, and nothing is said to the relying party on its behalf."""


class RepresentationError(BrokerError):
    http_status = 403
    oidc_error = "access_denied"
    saml_status: tuple[str, str | None] = (SAML_RESPONDER, SAML_REQUEST_DENIED)
    public_message = Bilingual(
        "U mag niet namens deze partij inloggen voor deze dienst.",
        "You may not log in on behalf of this party for this service.")


class MalformedInputError(BrokerError):
    """The request cannot be read as sent: a NUL or other control character, a body cut off
    or wrongly framed, a value the database cannot hold. The sender's fault, not ours."""

    oidc_error = "invalid_request"
    saml_status: tuple[str, str | None] = (SAML_REQUESTER, None)
    public_message = Bilingual(
        "Dit verzoek bevat tekens of gegevens die wij niet kunnen lezen.",
        "This request contains characters or data that we cannot read.")


class ServiceUnavailableError(BrokerError):
    """A part the broker stands on (:data:`DATABASE` or :data:`STATE`) does not answer. Nothing
    is wrong with the request: the same request may succeed once the part is back."""

    http_status = 503
    oidc_error = "temporarily_unavailable"
    saml_status: tuple[str, str | None] = (SAML_RESPONDER, None)
    public_message = Bilingual(
        "Door een storing bij ons lukt dit op dit moment niet.",
        "Because of a fault on our side this is not possible at the moment.")
    retry_after = 30

    def __init__(self, detail: str = "", *, part: str) -> None:
        super().__init__(detail)
        self.part = part
