"""SATOSA, the peer SAML/OIDC proxy, run beside the broker in the login benchmark.

SATOSA (the IdentityPython proxy, ``pip install satosa``) is set up as a SAML-to-SAML and a
SAML-to-OIDC proxy: one SAML2 backend (an SP) towards the benchmark's upstream IdP, a SAML2
frontend (an IdP) for the driver's SAML SP and an OpenID Connect frontend (pyop) for the
driver's relying party. ``benchmarks/login.py`` uses it like this::

    ensure_installed()                              # venv + xmlsec1, once per machine
    peer = prepare(folder / "satosa", port=free_port(), idp_metadata=idp_dir / "idp-metadata.xml",
                   downstream=Downstream(...))     # keys, config, SP metadata; no process yet
    # start the upstream IdP with --sp-metadata peer.backend_metadata (besides the broker's)
    process = peer.start(workers=2)                 # gunicorn; process.pid is the master
    peer.wait_ready()
    kinds = peer.logins()                           # {"saml": SamlLogin, "oidc": OidcLogin}
    ... tree_cpu(process.pid) before and after driver.run(kinds[...], n, c) ...
    peer.stop()

Alone, for a try (upstream IdP, SATOSA and the driver; prints logins/s, CPU per login)::

    .venv/bin/python benchmarks/satosa_peer.py --logins 60 --concurrency 1 8

What differs from the broker, by design of the two products:

- SATOSA has no mandates: no "on whose behalf" chooser, nothing recorded; a login goes
  straight through, and what arrives is the upstream NameID (``s00000000:<BSN>``) as the SAML
  NameID or the OIDC ``sub`` (public subject, mirrored). :func:`check_assertion` and
  :func:`check_claims` check that, not the broker's "Fatima acts for Jan".
- pysaml2 in SATOSA signs and verifies with the ``xmlsec1`` program (Debian's package), in
  short-lived child processes: counted with SATOSA 8.6 / pysaml2 7.5, a SAML-to-SAML login runs
  13 (3 ``--verify`` of the upstream Response, 2 ``--sign`` of the downstream Response and
  Assertion, and 8 ``--version``), a SAML-to-OIDC login 9 (3 verify, 6 version). Those
  children's CPU lands in the gunicorn worker's cutime/cstime when the worker reaps them, so
  SATOSA's CPU is the tree's utime + stime + cutime + cstime (``login.tree_cpu`` reads that).
- SATOSA's SAML frontend does not check the AuthnRequest's Redirect-binding signature (see
  :func:`saml_frontend`); the broker does.
- The OIDC frontend keeps its codes and tokens in pyop's *stateless* storage (AES-encrypted
  into the code itself): its in-memory storage is per process and fails when the token request
  reaches another gunicorn worker than the authorization request did.
- pyop refuses an ``http`` issuer; ``benchmarks/satosa_wsgi.py`` (the gunicorn entry point)
  lets it pass on loopback, so that both brokers are measured over plain HTTP.
- SATOSA is installed in a venv of its own (``benchmarks/.satosa-venv``, git-ignored), never in
  the project's: its pinned dependencies (pysaml2, pyop, oic) are not the project's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from driver import LoginFailed  # noqa: E402
from driver import OidcLogin  # noqa: E402
from driver import RunResult  # noqa: E402
from driver import SamlLogin  # noqa: E402
from driver import run  # noqa: E402

from broker import keys  # noqa: E402
from broker.keys import KeyPair  # noqa: E402
from broker.saml import metadata  # noqa: E402
from broker.saml.messages import VerifiedAssertion  # noqa: E402

VENV = ROOT / "benchmarks" / ".satosa-venv"
REQUIREMENTS = ("satosa==8.*", "gunicorn")
FATIMA = "999990676"  #: the upstream IdP's person (benchmarks/upstream_idp.py)
SUBJECTS = (FATIMA, f"s00000000:{FATIMA}")  #: what SATOSA may name her: the BSN or the NameID
BACKEND, SAML_FRONTEND, OIDC_FRONTEND = "upstream", "samlidp", "oidc"  #: SATOSA module names
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
NAMEID = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
ATTRNAME_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"


# -- installation ----------------------------------------------------------------------------


def ensure_xmlsec1() -> str:
    """The path of ``xmlsec1``; installs Debian's package when missing and we are root with
    apt-get, else stops with what to do."""
    found = shutil.which("xmlsec1")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("xmlsec1 missing: apt-get install -y xmlsec1", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "xmlsec1"], check=False, env=env)
        found = shutil.which("xmlsec1")
    if not found:
        raise SystemExit("SATOSA (pysaml2) needs the xmlsec1 program: apt-get install -y xmlsec1")
    return found


def ensure_venv(venv: Path = VENV) -> Path:
    """SATOSA's own venv (created and filled with ``REQUIREMENTS`` the first time); returns its
    bin folder."""
    python = venv / "bin" / "python"
    if installed_version(venv) is None:
        print(f"installing {' '.join(REQUIREMENTS)} into {venv} (once)", file=sys.stderr)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        result = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                                 "--disable-pip-version-check", *REQUIREMENTS],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0 or installed_version(venv) is None:
            raise SystemExit(f"satosa did not install into {venv}:\n{result.stderr[-3000:]}")
    return venv / "bin"


def installed_version(venv: Path = VENV) -> str | None:
    """SATOSA's version in ``venv`` when it is there with gunicorn, else None."""
    python = venv / "bin" / "python"
    if not (python.exists() and (venv / "bin" / "gunicorn").exists()):
        return None
    result = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                             "print(m.version('satosa'))"], capture_output=True, text=True,
                            check=False)
    version = result.stdout.strip() if result.returncode == 0 else ""
    return version or None


def ensure_installed(venv: Path = VENV) -> Path:
    """xmlsec1 and SATOSA's venv (see :func:`ensure_xmlsec1`, :func:`ensure_venv`)."""
    ensure_xmlsec1()
    return ensure_venv(venv)


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Downstream:
    """The driver's relying parties, registered at SATOSA as they are at the broker."""

    sp_entity_id: str
    acs_url: str
    sp_key: KeyPair  #: signs the AuthnRequests (the SP's metadata says it does)
    client_id: str
    client_secret: str
    redirect_uri: str


def proxy_config(base_url: str, folder: Path, idp_metadata: Path, sp_metadata: Path,
                 client_db: Path) -> dict[str, Any]:
    """SATOSA's proxy_conf: the three modules, the state cookie (not Secure: plain HTTP over
    loopback), logging at ERROR (SATOSA's default is DEBUG, whose lines name the person; and
    at WARNING SATOSA 8.6 and pysaml2 write two lines per login about their own defaults)."""
    return {
        "BASE": base_url,
        "COOKIE_STATE_NAME": "SATOSA_STATE",
        "COOKIE_SECURE": False,
        "COOKIE_SAMESITE": "Lax",
        "CONTEXT_STATE_DELETE": True,
        "STATE_ENCRYPTION_KEY": secrets.token_hex(16),
        "INTERNAL_ATTRIBUTES": {"attributes": {
            "bsn": {"saml": ["urn:nl-eid-gdi:1.0:id:BSN"], "openid": ["bsn"]}}},
        "BACKEND_MODULES": [saml_backend(base_url, folder, idp_metadata)],
        "FRONTEND_MODULES": [saml_frontend(base_url, folder, sp_metadata),
                             oidc_frontend(folder, client_db)],
        "MICRO_SERVICES": [],
        "LOGGING": {"version": 1, "disable_existing_loggers": False,
                    "handlers": {"stderr": {"class": "logging.StreamHandler",
                                            "stream": "ext://sys.stderr"}},
                    "root": {"level": "ERROR", "handlers": ["stderr"]}},
    }


def saml_backend(base_url: str, folder: Path, idp_metadata: Path) -> dict[str, Any]:
    """The SP towards the upstream IdP: signed AuthnRequests (Redirect), Response and
    Assertion must be signed; InResponseTo is bound through the state cookie's RelayState
    (``allow_unsolicited``: pysaml2's outstanding-request table is per worker)."""
    return {"module": "satosa.backends.saml2.SAMLBackend", "name": BACKEND, "config": {
        "entityid_endpoint": True,
        "sp_config": {
            "entityid": f"{base_url}/{BACKEND}/metadata",
            "key_file": str(folder / "backend.key"), "cert_file": str(folder / "backend.crt"),
            "metadata": {"local": [str(idp_metadata)]},
            "accepted_time_diff": 60,
            "service": {"sp": {
                "name": "SATOSA peer",
                "authn_requests_signed": True,
                "want_response_signed": True,
                "want_assertions_signed": True,
                "allow_unsolicited": True,
                "endpoints": {"assertion_consumer_service": [
                    [f"{base_url}/{BACKEND}/acs/post", BINDING_POST]]},
                "name_id_format": [NAMEID],
            }},
        },
    }}


def saml_frontend(base_url: str, folder: Path, sp_metadata: Path) -> dict[str, Any]:
    """The IdP for the driver's SP: Response and Assertion signed, the upstream NameID passed
    on as it came. The AuthnRequest's Redirect-binding signature is not checked: SATOSA 8.6's
    frontend hands pysaml2 no SigAlg and Signature (frontends/saml2.py, parse_authn_request),
    so ``want_authn_requests_signed: true`` refuses every Redirect request."""
    return {"module": "satosa.frontends.saml2.SAMLFrontend", "name": SAML_FRONTEND, "config": {
        "entityid_endpoint": True,
        "idp_config": {
            "entityid": f"{base_url}/{SAML_FRONTEND}/metadata",
            "key_file": str(folder / "frontend.key"), "cert_file": str(folder / "frontend.crt"),
            "metadata": {"local": [str(sp_metadata)]},
            "accepted_time_diff": 60,
            "service": {"idp": {
                "name": "SATOSA peer",
                "endpoints": {"single_sign_on_service": []},
                "name_id_format": [NAMEID, NAMEID_TRANSIENT],
                "want_authn_requests_signed": False,
                "signing_algorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "digest_algorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
                "policy": {"default": {
                    "attribute_restrictions": None, "fail_on_missing_requested": False,
                    "lifetime": {"minutes": 5}, "name_form": ATTRNAME_URI,
                    "sign_response": True, "sign_assertion": True}},
            }},
        },
        "endpoints": {"single_sign_on_service": {BINDING_REDIRECT: "sso/redirect",
                                                 BINDING_POST: "sso/post"}},
    }}


def oidc_frontend(folder: Path, client_db: Path) -> dict[str, Any]:
    """The OpenID Provider (pyop) for the driver's RP: code flow (PKCE when the RP sends a
    challenge), public subject = the upstream NameID, stateless code and token storage."""
    return {"module": "satosa.frontends.openid_connect.OpenIDConnectFrontend",
            "name": OIDC_FRONTEND, "config": {
                "signing_key_path": str(folder / "oidc.key"),
                "db_uri": f"stateless://satosa:{secrets.token_hex(16)}@localhost",
                "client_db_path": str(client_db),
                "sub_mirror_public": True,
                "provider": {
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "scopes_supported": ["openid"],
                    "authorization_code_lifetime": 300,
                    "id_token_lifetime": 300,
                },
            }}


def client_db(downstream: Downstream) -> dict[str, Any]:
    """pyop's client database: the driver's RP, pre-registered."""
    return {downstream.client_id: {
        "client_id": downstream.client_id,
        "client_secret": downstream.client_secret,
        "redirect_uris": [downstream.redirect_uri],
        "response_types": ["code"],
        "subject_type": "public",
        "token_endpoint_auth_method": "client_secret_basic",
    }}


# -- the running proxy -----------------------------------------------------------------------


@dataclass
class Peer:
    """A configured SATOSA in ``folder``; :meth:`start` runs it under gunicorn."""

    folder: Path
    bin: Path  #: SATOSA venv's bin folder
    base_url: str
    port: int
    downstream: Downstream
    backend_metadata: Path  #: SATOSA's SP metadata: give it to the upstream IdP
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return self.folder / "satosa.log"

    @property
    def pid(self) -> int:
        """The gunicorn master: measure the CPU of its whole tree (workers and xmlsec1)."""
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self, workers: int = 2) -> subprocess.Popen[bytes]:
        """gunicorn with ``workers`` sync workers (as the broker's ``broker serve``) in a
        session of its own; returns the master's process."""
        command = [str(self.bin / "gunicorn"), "--bind", f"127.0.0.1:{self.port}",
                   "--workers", str(workers), "--worker-class", "sync", "--log-level", "warning",
                   "--no-control-socket", "--backlog", "256",
                   "--pythonpath", str(ROOT / "benchmarks"), "satosa_wsgi:app"]
        self.process = subprocess.Popen(
            command, cwd=self.folder, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            env={**_clean_env(), "SATOSA_CONFIG": str(self.folder / "proxy_conf.yaml")},
            start_new_session=True)
        return self.process

    def wait_ready(self, seconds: float = 60) -> None:
        """Until the OIDC discovery document answers (every module is loaded by then)."""
        url = f"{self.base_url}/.well-known/openid-configuration"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SystemExit(f"SATOSA exited; its log:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise SystemExit(f"SATOSA did not answer within {seconds} s; log:\n"
                         f"{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM to the master (it stops its workers), then wait."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def logins(self) -> dict[str, Callable[[], None]]:
        """The driver's logins through SATOSA, endpoints read from the running proxy (its
        SAML IdP metadata, its OIDC discovery document and JWKS, fetched here, before any
        timed run)."""
        d = self.downstream
        document = requests.get(f"{self.base_url}/{SAML_FRONTEND}/metadata", timeout=10).content
        sso_url = metadata.read(document).sso_location(BINDING_REDIRECT)
        if sso_url is None:
            raise SystemExit("SATOSA's SAML frontend metadata has no HTTP-Redirect SSO URL")
        saml = SamlLogin(sso_url=sso_url, idp_metadata=document, sp_entity_id=d.sp_entity_id,
                         acs_url=d.acs_url, key=d.sp_key, check=check_assertion)
        discovery = requests.get(f"{self.base_url}/.well-known/openid-configuration",
                                 timeout=10).json()
        oidc = OidcLogin(authorize_url=discovery["authorization_endpoint"],
                         token_url=discovery["token_endpoint"], jwks_url=discovery["jwks_uri"],
                         issuer=discovery["issuer"], client_id=d.client_id,
                         client_secret=d.client_secret, redirect_uri=d.redirect_uri,
                         scope="openid", check=check_claims, signing_algs=("RS256",))
        saml.idp()
        oidc.keys()
        return {"saml": saml, "oidc": oidc}


def prepare(folder: Path, *, port: int, idp_metadata: Path, downstream: Downstream,
            bin_dir: Path | None = None) -> Peer:
    """Keys, certificates and the configuration of a SATOSA on ``127.0.0.1:port`` in
    ``folder``, trusting the upstream IdP of ``idp_metadata`` and the driver's SP and RP;
    writes SATOSA's SP metadata (``Peer.backend_metadata``) with SATOSA's own tool."""
    bin_dir = bin_dir or ensure_installed()
    folder.mkdir(parents=True, exist_ok=True)
    base_url = f"http://127.0.0.1:{port}"
    for name in ("backend", "frontend", "oidc"):
        keys.load_or_create(folder, name, common_name=f"satosa-{name}")
    sp_metadata = folder / "sp-metadata.xml"
    sp_metadata.write_bytes(metadata.sp_descriptor(
        entity_id=downstream.sp_entity_id, key=downstream.sp_key, acs_url=downstream.acs_url))
    clients = folder / "clients.json"
    clients.write_text(json.dumps(client_db(downstream), indent=2))
    config = proxy_config(base_url, folder, idp_metadata, sp_metadata, clients)
    # JSON is YAML: no YAML writer needed here
    (folder / "proxy_conf.yaml").write_text(json.dumps(config, indent=2))
    return Peer(folder, bin_dir, base_url, port, downstream,
                backend_metadata=write_backend_metadata(bin_dir, folder, config))


def write_backend_metadata(bin_dir: Path, folder: Path, config: dict[str, Any]) -> Path:
    """SATOSA's SP metadata (one EntityDescriptor) by ``satosa-saml-metadata``, unsigned. The
    tool loads every module; the OIDC frontend is left out of its copy of the configuration,
    since pyop refuses an http issuer outside ``satosa_wsgi.py``'s relaxation."""
    saml_only = {**config, "FRONTEND_MODULES": [module for module in config["FRONTEND_MODULES"]
                                                 if module["name"] != OIDC_FRONTEND]}
    path = folder / "metadata_conf.yaml"
    path.write_text(json.dumps(saml_only, indent=2))
    out = folder / "generated-metadata"
    out.mkdir(exist_ok=True)
    result = subprocess.run([str(bin_dir / "satosa-saml-metadata"), str(path), "--dir", str(out),
                             "--no-sign", "--split-backend"], cwd=folder, capture_output=True,
                            text=True, env=_clean_env(), check=False)
    written = sorted(out.glob(f"{BACKEND}_*.xml"))
    if result.returncode != 0 or len(written) != 1:
        raise SystemExit(f"satosa-saml-metadata failed ({result.returncode}, {written}):\n"
                         f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return written[0]


def _clean_env() -> dict[str, str]:
    """The environment without the project venv's markers, so SATOSA's venv is the one used."""
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}


# -- checks ----------------------------------------------------------------------------------


def check_assertion(verified: VerifiedAssertion) -> None:
    """SATOSA's assertion names Fatima: the upstream NameID passed on (no mandate: SATOSA has
    none)."""
    if verified.name_id not in SUBJECTS:
        raise LoginFailed("NameID is not Fatima's")


def check_claims(claims: dict[str, Any]) -> None:
    """SATOSA's ID token names Fatima as ``sub`` (no ``represents``: SATOSA has no mandates)."""
    if claims.get("sub") not in SUBJECTS:
        raise LoginFailed("ID token sub is not Fatima's")


# -- trying it alone -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(login: Callable[[], None], logins: int, concurrency: int, satosa: int,
            idp: int) -> tuple[RunResult, float, float, float]:
    """One timed run: the driver's result, and the CPU seconds of SATOSA's tree, the IdP's tree
    and the processes that are neither (nor the driver): other users of the machine."""
    from login import machine_cpu  # login imports this module: only here, not at the top
    from login import tree_cpu

    def sample() -> tuple[float, float, float, float]:
        return tree_cpu(satosa), tree_cpu(idp), time.process_time(), machine_cpu()

    before = sample()
    result = run(login, logins, concurrency)
    satosa_cpu, idp_cpu, driver_cpu, machine = (b - a for a, b in zip(before, sample(), strict=True))
    return result, satosa_cpu, idp_cpu, machine - satosa_cpu - idp_cpu - driver_cpu


def line(kind: str, result: RunResult, satosa_cpu: float, idp_cpu: float, others: float) -> str:
    ms = satosa_cpu * 1000 / result.logins
    return (f"saml->{kind:4} c={result.concurrency}: {result.logins} logins in "
            f"{result.seconds:.2f} s = {result.per_second:.1f}/s; SATOSA CPU {ms:.1f} ms/login "
            f"(tree incl. xmlsec1; = {2000 / max(ms, 1e-9):.1f} logins/s on 2 cores), "
            f"IdP {idp_cpu * 1000 / result.logins:.1f} ms; p50 {result.percentile(0.5) * 1000:.0f} ms, "
            f"p99 {result.percentile(0.99) * 1000:.0f} ms; failed {result.failed}; other processes "
            f"used {others / result.seconds * 100:.0f}% of a CPU meanwhile")


def try_alone(args: argparse.Namespace, folder: Path) -> int:
    """Upstream IdP and SATOSA in ``folder``, then warm-up and timed runs; returns failures."""
    idp_dir, failed = folder / "idp", 0
    upstream = [sys.executable, str(ROOT / "benchmarks" / "upstream_idp.py"), "--port",
                str(free_port()), "--workdir", str(idp_dir)]
    subprocess.run([*upstream, "--init"], check=True, capture_output=True)
    downstream = Downstream(
        sp_entity_id="https://sp.bench.test/metadata", acs_url="https://sp.bench.test/acs",
        sp_key=keys.load_or_create(folder / "sp", "sp"), client_id="bench-rp",
        client_secret=secrets.token_urlsafe(32), redirect_uri="https://rp.bench.test/callback")
    peer = prepare(folder / "satosa", port=free_port(), idp_metadata=idp_dir / "idp-metadata.xml",
                   downstream=downstream)
    idp = subprocess.Popen([*upstream, "--sp-metadata", str(peer.backend_metadata), "--workers",
                            str(args.idp_workers)], stdout=(folder / "idp.log").open("wb"),
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        peer.start(args.workers)
        peer.wait_ready()
        kinds = peer.logins()
        for kind in args.downstream:
            for concurrency in args.concurrency:
                warm = run(kinds[kind], args.warmup, concurrency)
                result, *cpu = measure(kinds[kind], args.logins, concurrency, peer.pid, idp.pid)
                failed += warm.failed + result.failed
                for reason, count in (warm.failures + result.failures).most_common():
                    print(f"!!! {count} x {reason}", file=sys.stderr)
                print(line(kind, result, *cpu), flush=True)
    finally:
        peer.stop()
        if idp.poll() is None:
            idp.send_signal(signal.SIGTERM)
            idp.wait(15)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=60, help="timed logins per run")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--downstream", nargs="+", choices=["saml", "oidc"], default=["saml", "oidc"])
    parser.add_argument("--workers", type=int, default=2, help="SATOSA gunicorn workers")
    parser.add_argument("--idp-workers", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    ensure_installed()
    print(f"SATOSA {installed_version()}, xmlsec1 {xmlsec1_version()}, {args.workers} workers; "
          f"load average before: {_loadavg()}")
    folder = Path(tempfile.mkdtemp(prefix="satosa-peer-"))
    try:
        failed = try_alone(args, folder)
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"load average after: {_loadavg()}")
    return 1 if failed else 0


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def xmlsec1_version() -> str:
    """The version ``xmlsec1 --version`` names (installing xmlsec1 when missing)."""
    result = subprocess.run([ensure_xmlsec1(), "--version"], capture_output=True, text=True,
                            check=False)
    return result.stdout.strip().split(" ")[1] if result.stdout.strip() else "?"


if __name__ == "__main__":
    sys.exit(main())
