"""Login benchmark: brokered logins per second and the broker's CPU per login, over loopback HTTP.

Usage (from the repository root)::

    .venv/bin/python benchmarks/login.py --logins 300                     # and SATOSA beside it
    .venv/bin/python benchmarks/login.py --logins 300 --satosa-logins 100
    .venv/bin/python benchmarks/login.py --logins 300 --no-satosa --profile  # and a py-spy profile

Everything is set up in a temporary folder: an upstream SAML IdP of its own process
(``benchmarks/upstream_idp.py``, pysaml2, answers at once for Fatima of the demo world), a
broker instance with the generic SAML connector pointing at that IdP's metadata file, the demo
world's register seeded (``demo = false``), an OIDC client and a SAML SP registered. The broker
runs as ``broker serve`` (gunicorn, ``--workers``). Then, per downstream (OIDC, SAML) and per concurrency, a
warm-up and ``--logins`` timed logins (``benchmarks/driver.py``): authorize or AuthnRequest →
upstream IdP → the broker's ACS → "Namens wie wilt u inloggen?" → Jan → the relying party,
whose answer is verified and must say that Fatima acts for Jan.

Side by side, in the same run and on the same upstream IdP, service provider, relying party
and driver: SATOSA (``benchmarks/satosa_peer.py``, its own venv, gunicorn with as many
workers as the broker) as a SAML-to-OIDC and SAML-to-SAML proxy. After each broker run comes a
SATOSA run of the same downstream and concurrency, with fewer logins (``--satosa-logins``: it
is much slower); ``--no-satosa`` leaves it out. The last table is SATOSA's CPU per login
divided by the broker's. The two do not do the same work: see :data:`FUNCTIONAL_DIFFERENCE`.

CPU is read from /proc (utime + stime of every process in a tree, and cutime + cstime: the
children they reaped, such as SATOSA's xmlsec1 processes) before and after each timed run: the
broker's gunicorn master and workers, SATOSA's, the IdP's, and the driver's own process. Both
proxies are measured alike.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import satosa_peer  # noqa: E402
from driver import Chooser  # noqa: E402
from driver import LoginFailed  # noqa: E402
from driver import OidcLogin  # noqa: E402
from driver import RunResult  # noqa: E402
from driver import SamlLogin  # noqa: E402
from driver import run  # noqa: E402

from broker.saml import names  # noqa: E402
from broker.saml.messages import VerifiedAssertion  # noqa: E402

PYTHON = sys.executable
BIN = Path(PYTHON).parent
FATIMA, JAN = "999990676", "999993653"  #: data/demo-world.toml
INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"  #: Fatima may act for Jan here
CLIENT_ID = "bench-rp"
REDIRECT_URI = "https://rp.bench.test/callback"
SP_ENTITY = "https://sp.bench.test/metadata"
SP_ACS = "https://sp.bench.test/acs"
CONNECTOR = "digid"
CLK_TCK = os.sysconf("SC_CLK_TCK")
FUNCTIONAL_DIFFERENCE = """\
Not the same work. The broker's login has one more page and one more POST: the mandate
chooser ("Namens wie wilt u inloggen?", Jan's button pressed) after the mandates are looked up;
it keeps its flow state in its store (SQLite, or redis with --redis), checks the signature of
the SP's AuthnRequest, records the login in its audit trail, and answers that Fatima acts for
Jan (ID token `represents`; ST-SAML ActingSubjectID and LegalSubjectID). SATOSA has no mandates
and no chooser: it passes the upstream NameID on as the SAML NameID or the OIDC `sub`, keeps
its state in a cookie, and does not check the AuthnRequest's Redirect signature (SATOSA 8.6
cannot). SATOSA signs and verifies XML with the xmlsec1 program in child processes; their CPU
is in its tree's."""


# -- CPU of process trees --------------------------------------------------------------------


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and every live descendant, including children
    they have already reaped (cutime, cstime)."""
    return trees_cpu({"": root})[""]


def trees_cpu(roots: Mapping[str, int]) -> dict[str, float]:
    """:func:`tree_cpu` of each named root, from one reading of /proc."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
        pid = int(entry)
        stats[pid] = fields
        children.setdefault(int(fields[1]), []).append(pid)

    def total(root: int) -> float:
        ticks, todo = 0, [root]
        while todo:
            pid = todo.pop()
            if pid in stats:  # fields[11..14]: utime stime cutime cstime (stat fields 14-17)
                ticks += sum(int(value) for value in stats[pid][11:15])
            todo.extend(children.get(pid, ()))
        return ticks / CLK_TCK

    return {name: total(root) for name, root in roots.items()}


# -- set-up ----------------------------------------------------------------------------------


@dataclass
class World:
    folder: Path
    broker_url: str
    idp_url: str
    config: Path
    instance: Path
    client_secret: str
    sp_key: Any
    processes: dict[str, subprocess.Popen[bytes]]  #: by name: broker, idp, satosa, redis
    satosa: satosa_peer.Peer | None  #: the peer, unless --no-satosa


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(folder: Path, broker_url: str, idp_metadata: Path, redis_url: str | None) -> Path:
    redis = f'redis_url = "{redis_url}"\n' if redis_url else ""
    path = folder / "broker.toml"
    path.write_text(f"""[broker]
base_url = "{broker_url}"
demo = false
allow_mock_connectors = false
{redis}
[connectors.{CONNECTOR}]
type = "saml"
label = "DigiD (benchmark IdP)"
via = "digid"
metadata = "{idp_metadata}"

[frontends.oidc]
type = "oidc"

[frontends.saml]
type = "saml_idp"

[plugins.machtigen]
type = "digid_machtigen"

[plugins.wettelijk]
type = "legal_representation"
""")
    return path


def prepare_instance(config: Path, instance: Path, sp_metadata_out: Path) -> tuple[str, Any]:
    """Seed the demo world, register the OIDC client and the driver's SAML SP, create every
    key (before the workers start, so that none of them races to create one), and write the
    connector's SP metadata for the IdP. Returns the client secret and the SP's key."""
    from broker import keys
    from broker.app import create_app
    from broker.config import load_settings
    from broker.config import read_file
    from broker.context import service_from_record
    from broker.db import ServiceRecord
    from broker.demo.seed import seed
    from broker.frontends.oidc.clients import register_client
    from broker.frontends.saml_idp.providers import register_service_provider
    from broker.saml.metadata import sp_descriptor
    from broker.services import ServiceCatalogue
    from broker.web.database import db

    app = create_app(load_settings(read_file(config), instance_path=instance))
    with app.app_context():
        session = db.session()
        seed(session)
        secret = register_client(session, client_id=CLIENT_ID, redirect_uris=[REDIRECT_URI],
                                 secret=None, claims_profile="nlgov", may_receive_bsn=True,
                                 name="Benchmark RP")
        session.commit()
        catalogue = ServiceCatalogue([service_from_record(r) for r in session.query(ServiceRecord)])
        sp_key = keys.load_or_create(instance / "bench-sp", "sp")
        document = sp_descriptor(entity_id=SP_ENTITY, key=sp_key, acs_url=SP_ACS, services=[
            (1, catalogue.get(INKOMSTEN).name, INKOMSTEN)])
        register_service_provider(session, metadata=document, service=INKOMSTEN,
                                  catalogue=catalogue)
        session.commit()
        client = app.test_client()
        sp_metadata_out.write_bytes(client.get(f"/connect/{CONNECTOR}/metadata").data)
        client.get("/saml/idp/metadata")  # creates the IdP frontend's key
        db.session.remove()
        db.engine.dispose()
    assert secret is not None
    return secret, sp_key


def broker_command(world_config: Path, instance: Path, port: int, workers: int,
                   threads: int = 1) -> list[str]:
    return [str(BIN / "broker"), "serve", "--bind", f"127.0.0.1:{port}", "--workers",
            str(workers), "--threads", str(threads), "--instance", str(instance),
            "--config", str(world_config)]


def start(name: str, command: list[str], folder: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session, its output in ``folder/<name>.log``."""
    with (folder / f"{name}.log").open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                start_new_session=True)


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the process exited; its log:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds} s; log:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def world(args: argparse.Namespace, satosa_bin: Path | None) -> Iterator[World]:
    """Everything up and answering; SATOSA too when given its venv's bin folder."""
    folder = Path(tempfile.mkdtemp(prefix="login-bench-"))
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        broker_port, idp_port = free_port(), free_port()
        broker_url, idp_url = f"http://127.0.0.1:{broker_port}", f"http://127.0.0.1:{idp_port}"
        idp_dir, instance = folder / "idp", folder / "instance"
        subprocess.run([PYTHON, str(ROOT / "benchmarks" / "upstream_idp.py"), "--init", "--port",
                        str(idp_port), "--workdir", str(idp_dir)], check=True, capture_output=True)
        redis_url = None
        if args.redis:
            redis_port = free_port()
            processes["redis"] = start("redis", ["redis-server", "--port", str(redis_port),
                                                 "--save", "", "--appendonly", "no"], folder)
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            time.sleep(0.5)
        config = write_config(folder, broker_url, idp_dir / "idp-metadata.xml", redis_url)
        sp_metadata = folder / "broker-sp-metadata.xml"
        secret, sp_key = prepare_instance(config, instance, sp_metadata)
        sp_metadatas = [sp_metadata]
        peer = None
        if satosa_bin is not None:  # before the IdP starts: it must trust SATOSA's SP too
            peer = satosa_peer.prepare(
                folder / "satosa", port=free_port(), idp_metadata=idp_dir / "idp-metadata.xml",
                bin_dir=satosa_bin, downstream=satosa_peer.Downstream(
                    sp_entity_id=SP_ENTITY, acs_url=SP_ACS, sp_key=sp_key, client_id=CLIENT_ID,
                    client_secret=secret, redirect_uri=REDIRECT_URI))
            sp_metadatas.append(peer.backend_metadata)
        processes["idp"] = start("idp", [
            PYTHON, str(ROOT / "benchmarks" / "upstream_idp.py"), "--port", str(idp_port),
            "--workdir", str(idp_dir), *(f"--sp-metadata={path}" for path in sp_metadatas),
            "--workers", str(args.idp_workers)], folder)
        processes["broker"] = start(
            "broker", broker_command(config, instance, broker_port, args.workers,
                                     args.threads), folder)
        if peer is not None:
            processes["satosa"] = peer.start(workers=args.workers)
        wait_for(f"{idp_url}/metadata", processes["idp"], folder / "idp.log")
        wait_for(f"{broker_url}/.well-known/openid-configuration", processes["broker"],
                 folder / "broker.log")
        if peer is not None:
            peer.wait_ready()
        yield World(folder, broker_url, idp_url, config, instance, secret, sp_key, processes,
                    peer)
    finally:
        for process in processes.values():
            stop(process)
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process we started (gunicorn stops its workers), then wait."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# -- the logins ------------------------------------------------------------------------------


def check_claims(claims: dict[str, Any]) -> None:
    """The ID token (NL GOV profile) says Fatima acts for Jan under a voluntary mandate."""
    represents = claims.get("represents") or {}
    if claims.get("sub") != FATIMA or represents.get("sub") != JAN:
        raise LoginFailed("ID token does not say Fatima acts for Jan")
    if (claims.get("mandate") or {}).get("kind") != "voluntary":
        raise LoginFailed("ID token names no voluntary mandate")


def check_assertion(verified: VerifiedAssertion) -> None:
    """The assertion (ST-SAML) names Fatima acting and Jan as the legal subject."""
    bsn = names.ST_LEGACY_BSN + "|"
    if verified.attributes.get(names.ST_ACTING_SUBJECT_ID) != (bsn + FATIMA,):
        raise LoginFailed("ActingSubjectID is not Fatima")
    if verified.attributes.get(names.ST_LEGAL_SUBJECT_ID) != (bsn + JAN,):
        raise LoginFailed("LegalSubjectID is not Jan")


def logins(w: World) -> dict[str, Callable[[], None]]:
    url = w.broker_url
    choose_jan = Chooser("choice", f"bsn:{JAN}")
    oidc = OidcLogin(
        authorize_url=f"{url}/oidc/authorize", token_url=f"{url}/oidc/token",
        jwks_url=f"{url}/oidc/jwks", issuer=url, client_id=CLIENT_ID,
        client_secret=w.client_secret, redirect_uri=REDIRECT_URI,
        scope=f"openid urn:uuid:{INKOMSTEN}", check=check_claims, chooser=choose_jan)
    saml = SamlLogin(
        sso_url=f"{url}/saml/idp/sso",
        idp_metadata=requests.get(f"{url}/saml/idp/metadata", timeout=10).content,
        sp_entity_id=SP_ENTITY, acs_url=SP_ACS, key=w.sp_key,
        attribute_consuming_service_index=1, check=check_assertion, chooser=choose_jan)
    oidc.keys()
    saml.idp()
    return {"oidc": oidc, "saml": saml}


@dataclass
class Measured:
    proxy: str  #: whose logins these were: "broker" or "satosa"
    downstream: str
    result: RunResult
    cpu: dict[str, float]  #: CPU seconds per process tree (``World.processes``) and "driver"
    machine_cpu: float  #: CPU seconds the whole machine spent (all processes, /proc/stat)

    def ms(self, seconds: float) -> float:
        return seconds * 1000 / self.result.logins

    @property
    def proxy_ms(self) -> float:
        """The proxy's CPU per login, in ms: the figure the two proxies are compared on."""
        return self.ms(self.cpu[self.proxy])

    @property
    def idp_ms(self) -> float:
        return self.ms(self.cpu["idp"])

    @property
    def driver_ms(self) -> float:
        return self.ms(self.cpu["driver"])

    @property
    def others(self) -> float:
        """CPU seconds of processes that are not part of this benchmark (a busy machine)."""
        return self.machine_cpu - sum(self.cpu.values())

    def line(self) -> str:
        r = self.result
        redis = f", redis {self.ms(self.cpu['redis']):.2f} ms" if "redis" in self.cpu else ""
        return (f"{self.proxy:6} {self.downstream:4} c={r.concurrency}: {r.logins} logins in "
                f"{r.seconds:.2f} s = {r.per_second:.1f}/s; {self.proxy} CPU {self.proxy_ms:.2f} "
                f"ms/login (= {2000 / max(self.proxy_ms, 1e-9):.0f} logins/s on 2 cores), "
                f"IdP {self.idp_ms:.2f} ms, driver {self.driver_ms:.2f} ms{redis}; "
                f"p50 {r.percentile(0.5) * 1000:.1f} ms, p99 {r.percentile(0.99) * 1000:.1f} ms; "
                f"failed {r.failed}; other processes used {self.others / r.seconds * 100:.0f}% of "
                f"a CPU meanwhile")


def machine_cpu() -> float:
    """CPU seconds all CPUs of the machine have been busy since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def measure(w: World, proxy: str, downstream: str, login: Callable[[], None], count: int,
            concurrency: int) -> Measured:
    """One timed run through ``proxy`` (a name in ``w.processes``), with the CPU of every
    process tree of the benchmark, so that the idle proxy's is not taken for another user's."""
    roots = {name: process.pid for name, process in w.processes.items()}
    trees, driver, machine = trees_cpu(roots), time.process_time(), machine_cpu()
    result = run(login, count, concurrency)
    driver, machine = time.process_time() - driver, machine_cpu() - machine
    cpu = {name: seconds - trees[name] for name, seconds in trees_cpu(roots).items()}
    return Measured(proxy, downstream, result, {**cpu, "driver": driver}, machine)


def report_failures(result: RunResult, what: str) -> None:
    if result.failed:
        print(f"!!! {what}: {result.failed} of {result.logins} LOGINS FAILED:", file=sys.stderr)
        for reason, count in result.failures.most_common():
            print(f"!!!   {count} x {reason}", file=sys.stderr)


# -- profile (py-spy) ------------------------------------------------------------------------


def profile(w: World, login: Callable[[], None], count: int, concurrency: int,
            rate: int, top: int) -> str:
    """py-spy (sampling, Python frames) on the broker's workers during ``count`` logins, in ms
    per login (see :func:`summarise_stacks`). ``--gil``: a worker is counted while it holds the
    GIL, so blocking I/O is left out, and so is C code that releases the GIL (OpenSSL's RSA);
    compare the samples' total with the broker CPU measured meanwhile."""
    raw = w.folder / "profile.txt"
    with (w.folder / "py-spy.log").open("wb") as spy_log:
        spy = subprocess.Popen([str(BIN / "py-spy"), "record", "--pid",
                                str(w.processes["broker"].pid), "--subprocesses", "--rate",
                                str(rate), "--format", "raw", "--output", str(raw),
                                "--nonblocking", "--gil"],
                               stdout=subprocess.DEVNULL, stderr=spy_log)
    time.sleep(2)  # attach to master and workers
    broker = w.processes["broker"].pid
    before = tree_cpu(broker)
    result = run(login, count, concurrency)
    cpu = tree_cpu(broker) - before
    spy.send_signal(signal.SIGINT)
    spy.wait(60)
    report_failures(result, "profiled run")
    if not raw.exists():
        return f"(py-spy wrote nothing; see {w.folder / 'py-spy.log'})"
    done = result.logins - result.failed
    return (f"broker CPU during the profiled run: {cpu * 1000 / max(done, 1):.2f} ms/login "
            f"({done} logins, {result.per_second:.1f}/s)\n"
            + summarise_stacks(raw.read_text(), rate, done, top))


def summarise_stacks(collapsed: str, rate: int, logins: int, top: int) -> str:
    """From py-spy's collapsed stacks, in ms per login: samples per view (the function Flask
    dispatched to, or the layer outside it), per package of the running function, per function
    (own samples), and per broker function including what it calls."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    views: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in map(_frame, stack.split(";")) if frame is not None]
        view = _view(frames)
        if view is None:  # the master: py-spy's --gil sees it, /proc says it uses no CPU
            continue
        samples += count
        own[frames[-1]] += count
        packages[frames[-1].split("/", 1)[0].split(":", 1)[0].removesuffix(".py")] += count
        views[view] += count
        for frame in set(frames):
            total[frame] += count

    def ms(count: int) -> str:
        return f"{count * 1000 / rate / max(logins, 1):8.2f}"

    project = [(name, n) for name, n in total.most_common()
               if name.startswith(("broker/", "plugins/")) and not name.startswith(
                   ("broker/cli/", "broker/serve.py"))]
    return "\n".join([
        f"{samples} samples (--gil) at {rate} Hz = {ms(samples).strip()} ms per login in the workers",
        "", "      ms/login  view (Flask's dispatch target) or layer",
        *(f"  {ms(n)}      {name}" for name, n in views.most_common()),
        "", "      ms/login  package of the running function",
        *(f"  {ms(n)}      {name}" for name, n in packages.most_common(12)),
        "", "  own ms/login  function (own samples: the function itself, not what it calls)",
        *(f"  {ms(n)}      {name}" for name, n in own.most_common(top)),
        "", "total ms/login  broker function (including everything it calls)",
        *(f"  {ms(n)}      {name}" for name, n in project[:top])])


def _view(frames: list[str]) -> str | None:
    dispatch = "flask/app.py:Flask.dispatch_request"
    if dispatch in frames:
        index = frames.index(dispatch)
        return frames[index + 1] if index + 1 < len(frames) else dispatch
    if "flask/app.py:Flask.wsgi_app" in frames:
        return "(Flask and werkzeug around the view: request, session, CSRF, teardown)"
    if any(frame.startswith("gunicorn/workers/") for frame in frames):
        return "(gunicorn worker: accept, parse, write, close)"
    return None


def _frame(frame: str) -> str | None:
    """``function (path/to/file.py:line)`` → ``file.py:function``, site-packages shortened."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if not path:
        return None
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    if path.startswith("process_"):  # py-spy's "process 123:..." pseudo-frame
        return None
    return f"{path}:{name}"


# -- report ----------------------------------------------------------------------------------


def machine(satosa: bool) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), "?")
    memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in (
        "Flask", "pysaml2", "signxml", "gunicorn", "lxml", "cryptography", "SQLAlchemy",
        "requests"))
    peer = (f"; SATOSA {satosa_peer.installed_version()} (its own venv), xmlsec1 "
            f"{satosa_peer.xmlsec1_version()}" if satosa else "")
    return (f"{os.cpu_count()} CPUs (nproc), \"{model}\", {int(memory) / 1024 / 1024:.1f} GiB RAM; "
            f"{date.today().isoformat()}; Python {platform.python_version()}, {versions}, "
            f"SQLite {sqlite3.sqlite_version}{peer}")


def table(rows: list[Measured]) -> str:
    head = ("| proxy | downstream | concurrency | logins | failed | logins/s | proxy CPU ms/login | "
            "IdP CPU ms/login | driver CPU ms/login | p50 ms | p99 ms | other processes |\n"
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    body = [f"| {m.proxy} | {m.downstream} | {m.result.concurrency} | {m.result.logins} | "
            f"{m.result.failed} | {m.result.per_second:.1f} | {m.proxy_ms:.2f} | {m.idp_ms:.2f} | "
            f"{m.driver_ms:.2f} | {m.result.percentile(0.5) * 1000:.1f} | "
            f"{m.result.percentile(0.99) * 1000:.1f} | "
            f"{m.others / m.result.seconds * 100:.0f}% of a CPU |" for m in rows]
    return "\n".join([head, *body])


def ratio_table(rows: list[Measured]) -> str:
    """Per downstream and concurrency: SATOSA's CPU per login over the broker's."""
    runs = {(m.proxy, m.downstream, m.result.concurrency): m for m in rows}
    head = ("| downstream | concurrency | broker CPU ms/login | SATOSA CPU ms/login | "
            "SATOSA ÷ broker | broker logins/s | SATOSA logins/s |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    body = [f"| {downstream} | {concurrency} | {broker.proxy_ms:.2f} | {satosa.proxy_ms:.2f} | "
            f"{satosa.proxy_ms / max(broker.proxy_ms, 1e-9):.1f} | {broker.result.per_second:.1f} | "
            f"{satosa.result.per_second:.1f} |"
            for (proxy, downstream, concurrency), broker in runs.items() if proxy == "broker"
            if (satosa := runs.get(("satosa", downstream, concurrency))) is not None]
    return "\n".join([head, *body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=300, help="timed logins per run")
    parser.add_argument("--warmup", type=int, default=40, help="logins before each timed run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--downstream", nargs="+", choices=["oidc", "saml"], default=["oidc", "saml"])
    parser.add_argument("--workers", type=int, default=2, help="broker gunicorn workers")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per broker worker (more than 1: gunicorn's gthread worker, "
                             "which keeps connections alive)")
    parser.add_argument("--idp-workers", type=int, default=1)
    parser.add_argument("--redis", action="store_true", help="state in a local redis-server")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, profile the broker workers with py-spy")
    parser.add_argument("--profile-logins", type=int, default=300)
    parser.add_argument("--profile-rate", type=int, default=500)
    parser.add_argument("--profile-concurrency", type=int, default=8)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--no-satosa", dest="satosa", action="store_false",
                        help="leave out SATOSA, the peer run side by side")
    parser.add_argument("--satosa-logins", type=int, default=60,
                        help="timed logins per SATOSA run (it is much slower)")
    parser.add_argument("--satosa-warmup", type=int, default=10,
                        help="logins before each timed SATOSA run")
    args = parser.parse_args(argv)
    satosa_bin = satosa_peer.ensure_installed() if args.satosa else None
    print(machine(args.satosa))
    print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
    rows: list[Measured] = []
    with world(args, satosa_bin) as w:
        print(f"broker: broker serve, {args.workers} workers × {args.threads} threads; "
              f"IdP: {args.idp_workers} worker(s); "
              f"state: {'redis' if args.redis else 'SQL (SQLite)'}; folder {w.folder}")
        kinds = {"broker": logins(w)}
        counts = {"broker": (args.warmup, args.logins)}
        if w.satosa is not None:
            print(f"SATOSA: gunicorn, {args.workers} sync workers, {args.satosa_warmup} warm-up "
                  f"and {args.satosa_logins} timed logins per run")
            kinds["satosa"] = w.satosa.logins()
            counts["satosa"] = (args.satosa_warmup, args.satosa_logins)
        for downstream in args.downstream:
            for concurrency in args.concurrency:
                for proxy, (warmup, count) in counts.items():
                    login = kinds[proxy][downstream]
                    warm = run(login, warmup, concurrency)
                    report_failures(warm, f"{proxy} {downstream} warm-up c={concurrency}")
                    measured = measure(w, proxy, downstream, login, count, concurrency)
                    report_failures(measured.result, f"{proxy} {downstream} c={concurrency}")
                    rows.append(measured)
                    print(measured.line(), flush=True)
        print()
        print(table(rows))
        if w.satosa is not None:
            print(f"\nSATOSA's CPU per login over the broker's (the proxy's process tree, "
                  f"children included):\n\n{ratio_table(rows)}\n\n{FUNCTIONAL_DIFFERENCE}")
        if args.profile:
            for downstream in args.downstream:
                print(f"\nprofile, {downstream}, c={args.profile_concurrency}:")
                print(profile(w, kinds["broker"][downstream], args.profile_logins,
                              args.profile_concurrency, args.profile_rate, args.top))
    print(f"load average after: {Path('/proc/loadavg').read_text().split()[:3]}")
    failed = sum(m.result.failed for m in rows)
    if failed:
        print(f"\n!!! {failed} LOGINS FAILED: these figures do not measure working logins !!!",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
