"""A small auto-answering SAML identity provider for benchmarks (pysaml2 ``Server``).

It answers every AuthnRequest (HTTP-Redirect binding) at once, without a login page, with a
Response for one fixed person, signed (Response and Assertion) and sent back over HTTP-POST
as an auto-submitting form; a load driver parses that form and posts it. It runs in its own
process (gunicorn, sync workers), so that the CPU of the system under test is measured alone.

Two steps, because the IdP and its service provider each need the other's metadata::

    # 1. key, certificate and DIR/idp-metadata.xml (kept and reused when DIR already has them)
    python benchmarks/upstream_idp.py --port 8101 --workdir DIR --init
    # 2. serve, trusting the SP whose metadata is in FILE (repeat --sp-metadata for several)
    python benchmarks/upstream_idp.py --port 8101 --workdir DIR --sp-metadata FILE

The person is named DigiD-style: NameID ``s00000000:<BSN>`` (the classic DigiD form), the
level as the eIDAS AuthnContextClassRef (``--loa``). The AuthnRequest's Redirect-binding
signature is verified against the SP metadata when the SP's metadata says it signs
(AuthnRequestsSigned) or ``--want-signed`` is given.

pysaml2 signs with the ``xmlsec1`` binary by default; this machine has none, so signing and
verifying go through :class:`broker.saml.pysaml2_backend.SignxmlBackend` (signxml, in process),
the same backend the broker's tests use for their pysaml2 service provider.
"""

from __future__ import annotations

import argparse
import html
import sys
import warnings
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", message="CFB has been moved")  # pysaml2 imports it

from lxml import etree  # noqa: E402
from saml2 import BINDING_HTTP_POST  # noqa: E402
from saml2 import BINDING_HTTP_REDIRECT  # noqa: E402
from saml2.config import IdPConfig  # noqa: E402
from saml2.metadata import create_metadata_string  # noqa: E402
from saml2.saml import NAME_FORMAT_URI  # noqa: E402
from saml2.saml import NAMEID_FORMAT_UNSPECIFIED  # noqa: E402
from saml2.saml import NameID  # noqa: E402
from saml2.server import Server  # noqa: E402
from saml2.sigver import RSACrypto  # noqa: E402

from broker import keys  # noqa: E402
from broker.saml.pysaml2_backend import SignxmlBackend  # noqa: E402
from broker.saml.xml import DS  # noqa: E402
from broker.saml.xml import parse  # noqa: E402
from broker.saml.xml import tostring  # noqa: E402

FATIMA = "999990676"  #: the demo world's Fatima El Amrani (data/demo-world.toml)
EIDAS = "http://eidas.europa.eu/LoA/"
METADATA_FILE = "idp-metadata.xml"
KEY_NAME = "idp"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def base_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def idp_config(*, host: str, port: int, workdir: Path, sp_metadata: Iterable[Path] = (),
               want_signed: bool = False) -> dict[str, Any]:
    """The pysaml2 IdP configuration (entity id = the metadata URL, one Redirect SSO URL)."""
    url = base_url(host, port)
    config: dict[str, Any] = {
        "entityid": f"{url}/metadata",
        "key_file": str(workdir / f"{KEY_NAME}.key"),
        "cert_file": str(workdir / f"{KEY_NAME}.crt"),
        "crypto_backend": "XMLSecurity",  # builds without xmlsec1; replaced by signxml below
        "accepted_time_diff": 60,
        "service": {"idp": {
            "name": "Benchmark IdP",
            "endpoints": {"single_sign_on_service": [(f"{url}/sso", BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
            "want_authn_requests_signed": want_signed,
            "policy": {"default": {"lifetime": {"minutes": 5}, "name_form": NAME_FORMAT_URI,
                                   "attribute_restrictions": None}},
        }},
    }
    paths = [str(path) for path in sp_metadata]
    if paths:
        config["metadata"] = {"local": paths}
    return config


def init(host: str, port: int, workdir: Path) -> Path:
    """Create (or keep) the IdP's key and certificate; write its metadata; return its path."""
    workdir.mkdir(parents=True, exist_ok=True)
    keys.load_or_create(workdir, KEY_NAME, common_name="benchmark-idp")
    conf = IdPConfig()
    conf.load(idp_config(host=host, port=port, workdir=workdir))
    document = create_metadata_string(None, config=conf, sign=False)
    path = workdir / METADATA_FILE
    path.write_bytes(document if isinstance(document, bytes) else document.encode())
    return path


class _Backend(SignxmlBackend):  # type: ignore[misc]
    """SignxmlBackend, made safe for signing the Assertion inside pysaml2's Response.

    pysaml2 declares the XML-DSig namespace once, on the Response, under a prefix of its own
    (``ns2``). The backend signs a copy of the Assertion (its Signature with prefix ``ds``) and
    puts it back; lxml then rewrites the Signature to the Response's ``ns2`` prefix, which
    changes the canonical SignedInfo and breaks the signature. So before the Assertion is
    signed, the unsigned signature templates go and the namespace declaration with them.
    """

    def sign_statement(self, statement: str | bytes, node_name: str, key_file: str,
                       node_id: str | None) -> str:
        root = parse(statement.encode() if isinstance(statement, str) else statement)
        if node_id is not None and root.get("ID") != node_id:
            for template in list(root.iter(DS + "Signature")):
                if not (template.findtext(f"{DS}SignatureValue") or "").strip():
                    parent = template.getparent()
                    assert parent is not None
                    parent.remove(template)
            keep = [prefix for prefix, uri in root.nsmap.items() if f"{{{uri}}}" != DS and prefix]
            etree.cleanup_namespaces(root, keep_ns_prefixes=keep)
            statement = tostring(root)
        return str(super().sign_statement(statement, node_name, key_file, node_id))


class AutoAnsweringIdp:
    """The WSGI application: GET /sso answers, GET /metadata serves the metadata."""

    def __init__(self, *, host: str, port: int, workdir: Path, sp_metadata: list[Path],
                 bsn: str, loa: str, want_signed: bool) -> None:
        conf = IdPConfig()
        conf.load(idp_config(host=host, port=port, workdir=workdir, sp_metadata=sp_metadata,
                             want_signed=want_signed or _any_signs(sp_metadata)))
        key = keys.load_or_create(workdir, KEY_NAME)  # parsed once, reused for every answer
        self.server = Server(config=conf)
        self.server.sec.crypto = _Backend(key)
        self.server.sec.sec_backend = RSACrypto(key.private_key)
        self.entity_id = conf.entityid
        self.metadata = (workdir / METADATA_FILE).read_bytes()
        self.name_id = f"s00000000:{bsn}"
        self.class_ref = EIDAS + loa

    def __call__(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/sso" and environ.get("REQUEST_METHOD") == "GET":
            try:
                page = self.answer(environ.get("QUERY_STRING", ""))
            except Exception as exc:  # a benchmark IdP: say what failed, in plain text
                return _reply(start_response, "400 Bad Request", "text/plain",
                              f"{type(exc).__name__}: {exc}".encode())
            return _reply(start_response, "200 OK", "text/html; charset=utf-8", page)
        if path == "/metadata":
            return _reply(start_response, "200 OK", "application/samlmetadata+xml", self.metadata)
        return _reply(start_response, "404 Not Found", "text/plain", b"not found")

    def answer(self, query_string: str) -> bytes:
        """The auto-submitting form that carries the signed Response to the SP's ACS."""
        params = dict(parse_qsl(query_string, keep_blank_values=True))
        relay_state = params.get("RelayState")
        request = self.server.parse_authn_request(
            params["SAMLRequest"], BINDING_HTTP_REDIRECT, relay_state=relay_state,
            sigalg=params.get("SigAlg"), signature=params.get("Signature"))
        args = self.server.response_args(request.message, [BINDING_HTTP_POST])
        response = self.server.create_authn_response(
            identity={}, name_id=NameID(format=NAMEID_FORMAT_UNSPECIFIED, text=self.name_id),
            authn={"class_ref": self.class_ref, "authn_auth": self.entity_id},
            sign_response=True, sign_assertion=True,
            in_response_to=args["in_response_to"], destination=args["destination"],
            sp_entity_id=args["sp_entity_id"], name_id_policy=args["name_id_policy"])
        info = self.server.apply_binding(BINDING_HTTP_POST, str(response), args["destination"],
                                         relay_state or "", response=True)
        return _form(args["destination"], _post_fields(info), relay_state)


def _post_fields(info: dict[str, Any]) -> str:
    """The base64 SAMLResponse out of pysaml2's HTTP-POST binding result (its own HTML)."""
    data = info["data"]
    marker = 'name="SAMLResponse" value="'
    start = data.index(marker) + len(marker)
    return html.unescape(data[start:data.index('"', start)])


def _form(action: str, saml_response: str, relay_state: str | None) -> bytes:
    fields = f'<input type="hidden" name="SAMLResponse" value="{html.escape(saml_response)}">'
    if relay_state:
        fields += f'<input type="hidden" name="RelayState" value="{html.escape(relay_state)}">'
    return (f'<!DOCTYPE html><html><body onload="document.forms[0].submit()">'
            f'<form method="post" action="{html.escape(action)}" data-autosubmit>{fields}'
            f'<noscript><button type="submit">Continue</button></noscript></form>'
            f'</body></html>').encode()


def _reply(start_response: StartResponse, status: str, content_type: str,
           body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _any_signs(paths: Iterable[Path]) -> bool:
    return any(b'AuthnRequestsSigned="true"' in path.read_bytes() for path in paths)


def serve(app: AutoAnsweringIdp, host: str, port: int, workers: int) -> None:
    """Serve ``app`` with gunicorn (sync workers, no access log)."""
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in {"bind": f"{host}:{port}", "workers": workers,
                                "worker_class": "sync", "accesslog": None,
                                "loglevel": "warning", "backlog": 256}.items():
                self.cfg.set(name, value)

        def load(self) -> AutoAnsweringIdp:
            return app

    _Gunicorn().run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workdir", type=Path, required=True,
                        help="key, certificate and idp-metadata.xml live here")
    parser.add_argument("--init", action="store_true",
                        help="only write key, certificate and metadata, then exit")
    parser.add_argument("--sp-metadata", type=Path, action="append", default=[],
                        help="metadata file of an SP to answer (repeatable)")
    parser.add_argument("--bsn", default=FATIMA, help="the BSN every answer names")
    parser.add_argument("--loa", default="substantial", choices=["low", "substantial", "high"])
    parser.add_argument("--want-signed", action="store_true",
                        help="refuse unsigned AuthnRequests even if the SP metadata allows them")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    if args.init:
        print(init(args.host, args.port, args.workdir))
        return
    if not args.sp_metadata:
        parser.error("--sp-metadata is required unless --init")
    if not (args.workdir / METADATA_FILE).exists():
        init(args.host, args.port, args.workdir)
    app = AutoAnsweringIdp(host=args.host, port=args.port, workdir=args.workdir,
                           sp_metadata=args.sp_metadata, bsn=args.bsn, loa=args.loa,
                           want_signed=args.want_signed)
    serve(app, args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
