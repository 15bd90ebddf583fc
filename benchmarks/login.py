"""Login benchmark: brokered logins per second and the broker's CPU per login, over loopback HTTP.

Usage (from the repository root)::

    .venv/bin/python benchmarks/login.py --logins 300
    .venv/bin/python benchmarks/login.py --logins 300 --profile   # and a py-spy profile

Everything is set up in a temporary folder: an upstream SAML IdP of its own process
(``benchmarks/upstream_idp.py``, pysaml2, answers at once for Fatima of the demo world), a
broker instance with the generic SAML connector pointing at that IdP's metadata file, the demo
world's register seeded (``demo = false``), an OIDC client and a SAML SP registered. The broker
runs as ``broker serve`` (gunicorn, ``--workers``). Then, per downstream (OIDC, SAML) and per concurrency, a
warm-up and ``--logins`` timed logins (``benchmarks/driver.py``): authorize or AuthnRequest →
upstream IdP → the broker's ACS → "Namens wie wilt u inloggen?" → Jan → the relying party,
whose answer is verified and must say that Fatima acts for Jan.

CPU is read from /proc (utime + stime of every process in a tree) before and after each timed
run: the broker's gunicorn master and workers, the IdP's, and the driver's own process.
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
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

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


# -- CPU of process trees --------------------------------------------------------------------


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of ``root`` and every live descendant, including children
    they have already reaped (cutime, cstime)."""
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
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:  # fields[11..14]: utime stime cutime cstime (stat fields 14-17)
            total += sum(int(value) for value in stats[pid][11:15])
        todo.extend(children.get(pid, ()))
    return total / CLK_TCK


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
    processes: dict[str, subprocess.Popen[bytes]]


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
    from broker.db import db
    from broker.demo.seed import seed
    from broker.frontends.oidc.clients import register_client
    from broker.frontends.saml_idp.providers import register_service_provider
    from broker.saml.metadata import sp_descriptor
    from broker.services import ServiceCatalogue

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


def broker_command(world_config: Path, instance: Path, port: int, workers: int) -> list[str]:
    return [str(BIN / "broker"), "serve", "--bind", f"127.0.0.1:{port}", "--workers",
            str(workers), "--instance", str(instance), "--config", str(world_config)]


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
def world(args: argparse.Namespace) -> Iterator[World]:
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
        processes["idp"] = start("idp", [
            PYTHON, str(ROOT / "benchmarks" / "upstream_idp.py"), "--port", str(idp_port),
            "--workdir", str(idp_dir), "--sp-metadata", str(sp_metadata),
            "--workers", str(args.idp_workers)], folder)
        processes["broker"] = start(
            "broker", broker_command(config, instance, broker_port, args.workers), folder)
        wait_for(f"{idp_url}/metadata", processes["idp"], folder / "idp.log")
        wait_for(f"{broker_url}/.well-known/openid-configuration", processes["broker"],
                 folder / "broker.log")
        yield World(folder, broker_url, idp_url, config, instance, secret, sp_key, processes)
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
    downstream: str
    result: RunResult
    broker_cpu: float
    idp_cpu: float
    driver_cpu: float
    redis_cpu: float  #: the redis-server of --redis (the broker's state store), else 0
    machine_cpu: float  #: CPU seconds the whole machine spent (all processes, /proc/stat)

    def ms(self, seconds: float) -> float:
        return seconds * 1000 / self.result.logins

    @property
    def others(self) -> float:
        """CPU seconds of processes that are not part of this benchmark (a busy machine)."""
        return self.machine_cpu - self.broker_cpu - self.idp_cpu - self.driver_cpu - self.redis_cpu

    def line(self) -> str:
        r = self.result
        redis = f", redis {self.ms(self.redis_cpu):.2f} ms" if self.redis_cpu else ""
        return (f"{self.downstream:4} c={r.concurrency}: {r.logins} logins in {r.seconds:.2f} s = "
                f"{r.per_second:.1f}/s; broker CPU {self.ms(self.broker_cpu):.2f} ms/login "
                f"(= {2000 / max(self.ms(self.broker_cpu), 1e-9):.0f} logins/s on 2 cores), "
                f"IdP {self.ms(self.idp_cpu):.2f} ms, driver {self.ms(self.driver_cpu):.2f} ms"
                f"{redis}; p50 {r.percentile(0.5) * 1000:.1f} ms, "
                f"p99 {r.percentile(0.99) * 1000:.1f} ms; failed {r.failed}; other processes "
                f"used {self.others / r.seconds * 100:.0f}% of a CPU meanwhile")


def machine_cpu() -> float:
    """CPU seconds all CPUs of the machine have been busy since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def measure(w: World, downstream: str, login: Callable[[], None], count: int,
            concurrency: int) -> Measured:
    pids = [w.processes[name].pid for name in ("broker", "idp")]
    redis = w.processes["redis"].pid if "redis" in w.processes else None

    def sample() -> tuple[float, ...]:
        return (*(tree_cpu(pid) for pid in pids), time.process_time(),
                tree_cpu(redis) if redis else 0.0, machine_cpu())

    before = sample()
    result = run(login, count, concurrency)
    after = sample()
    return Measured(downstream, result, *(b - a for a, b in zip(before, after, strict=True)))


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
                   ("broker/cli.py", "broker/serve.py"))]
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


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), "?")
    memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in (
        "Flask", "pysaml2", "signxml", "gunicorn", "lxml", "cryptography", "SQLAlchemy",
        "requests"))
    return (f"{os.cpu_count()} CPUs (nproc), \"{model}\", {int(memory) / 1024 / 1024:.1f} GiB RAM; "
            f"{date.today().isoformat()}; Python {platform.python_version()}, {versions}, "
            f"SQLite {sqlite3.sqlite_version}")


def table(rows: list[Measured]) -> str:
    head = ("| downstream | concurrency | logins | failed | logins/s | broker CPU ms/login | "
            "IdP CPU ms/login | driver CPU ms/login | p50 ms | p99 ms | other processes |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    body = [f"| {m.downstream} | {m.result.concurrency} | {m.result.logins} | {m.result.failed} | "
            f"{m.result.per_second:.1f} | {m.ms(m.broker_cpu):.2f} | {m.ms(m.idp_cpu):.2f} | "
            f"{m.ms(m.driver_cpu):.2f} | {m.result.percentile(0.5) * 1000:.1f} | "
            f"{m.result.percentile(0.99) * 1000:.1f} | "
            f"{m.others / m.result.seconds * 100:.0f}% of a CPU |" for m in rows]
    return "\n".join([head, *body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=300, help="timed logins per run")
    parser.add_argument("--warmup", type=int, default=40, help="logins before each timed run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--downstream", nargs="+", choices=["oidc", "saml"], default=["oidc", "saml"])
    parser.add_argument("--workers", type=int, default=2, help="broker gunicorn workers")
    parser.add_argument("--idp-workers", type=int, default=1)
    parser.add_argument("--redis", action="store_true", help="state in a local redis-server")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, profile the broker workers with py-spy")
    parser.add_argument("--profile-logins", type=int, default=300)
    parser.add_argument("--profile-rate", type=int, default=500)
    parser.add_argument("--profile-concurrency", type=int, default=8)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    print(machine())
    print(f"load average before: {Path('/proc/loadavg').read_text().split()[:3]}")
    rows: list[Measured] = []
    with world(args) as w:
        print(f"broker: broker serve, {args.workers} workers; IdP: {args.idp_workers} worker(s); "
              f"state: {'redis' if args.redis else 'SQL (SQLite)'}; folder {w.folder}")
        kinds = logins(w)
        for downstream in args.downstream:
            for concurrency in args.concurrency:
                warm = run(kinds[downstream], args.warmup, concurrency)
                report_failures(warm, f"{downstream} warm-up c={concurrency}")
                measured = measure(w, downstream, kinds[downstream], args.logins, concurrency)
                report_failures(measured.result, f"{downstream} c={concurrency}")
                rows.append(measured)
                print(measured.line(), flush=True)
        print()
        print(table(rows))
        if args.profile:
            for downstream in args.downstream:
                print(f"\nprofile, {downstream}, c={args.profile_concurrency}:")
                print(profile(w, kinds[downstream], args.profile_logins,
                              args.profile_concurrency, args.profile_rate, args.top))
    failed = sum(m.result.failed for m in rows)
    if failed:
        print(f"\n!!! {failed} LOGINS FAILED: these figures do not measure working logins !!!",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
