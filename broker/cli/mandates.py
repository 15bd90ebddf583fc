"""The mandate register from the command line: ``broker mandates legal add|import`` and
``broker mandates import`` (bulk import of company, chain and voluntary mandates).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from broker.cli.common import admin_actor
from broker.cli.common import audit_admin
from broker.cli.common import catalogue_of
from broker.cli.common import config_option
from broker.cli.common import instance_option
from broker.cli.common import register_of
from broker.cli.common import settings_of
from broker.cli.common import with_database


@click.group()
def mandates() -> None:
    """The mandate register."""


@mandates.group()
def legal() -> None:
    """Legal representation, recorded from court decisions by an administrator."""


@legal.command("add")
@click.option("--represented", "represented_bsn", required=True, help="BSN of the represented.")
@click.option("--representative", "representative_bsn", required=True,
              help="BSN of the bewindvoerder, curator, mentor or parent.")
@click.option("--role", required=True,
              type=click.Choice(["bewind", "curatele", "mentorschap", "ouderlijk_gezag"]))
@click.option("--service", "services", required=True, multiple=True,
              help="ServiceUUID; repeat for several.")
@click.option("--court-reference", required=True, help="Reference of the court decision.")
@click.option("--until", "valid_until", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="End date (ouderlijk gezag ends on the 18th birthday by itself).")
@instance_option
@config_option
def legal_add(represented_bsn: str, representative_bsn: str, role: str,
              services: tuple[str, ...], court_reference: str, valid_until: Any,
              instance: Path, config: Path | None) -> None:
    """Record one legal representation."""
    def record(session: Any) -> None:
        mandate = register_of(session).record_legal(
            represented_bsn=represented_bsn, representative_bsn=representative_bsn, role=role,
            services=list(services), court_reference=court_reference, actor=admin_actor(),
            valid_until=valid_until, commit=False)
        audit_admin(session, "admin.legal_recorded", mandate.id, {"role": role})
        session.commit()
        until = mandate.valid_until.date().isoformat() if mandate.valid_until else "open-ended"
        click.echo(f"recorded {role} {mandate.id} (until {until})")

    with_database(instance, config, record)


@legal.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--dry-run", is_flag=True, help="Check every row; write nothing.")
@instance_option
@config_option
def legal_import(file: Any, dry_run: bool, instance: Path, config: Path | None) -> None:
    """Record legal representation in bulk from a CSV file; report every refused row."""
    from broker.register.legal_import import import_legal

    def run(session: Any) -> None:
        report = import_legal(register_of(session), file, actor=admin_actor(), dry_run=dry_run)
        if not dry_run:
            audit_admin(session, "admin.legal_imported", None, {
                "file": getattr(file, "name", None), "recorded": report.recorded,
                "skipped": report.skipped, "refused": len(report.refused)})
            session.commit()
        verb = "would record" if dry_run else "recorded"
        click.echo(f"{verb} {report.recorded}, already present {report.skipped}, "
                   f"refused {len(report.refused)}")
        for line, reason in report.refused:
            click.echo(f"  line {line}: {reason.en}")
        if report.refused:
            sys.exit(1)

    with_database(instance, config, run)


@mandates.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None,
              help="File format (default: from the extension, .csv or .jsonl).")
@click.option("--dry-run", is_flag=True, help="Check every row; write nothing.")
@click.option("--actor", default=None, help="Name recorded in each mandate's history "
              "(default: admin:<login name>).")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write every rejected row (line, reason, reden) to this CSV.")
@instance_option
@config_option
def mandates_import(file: Path, fmt: str | None, dry_run: bool, actor: str | None,
                    report_file: Path | None, instance: Path, config: Path | None) -> None:
    """Import company, chain and voluntary mandates in bulk from CSV or JSON Lines.

    Exit status 1 when any row was rejected.
    """
    from broker.register.bulk_import import format_for
    from broker.register.bulk_import import import_file

    depth = settings_of(config, instance).register.get("chain_depth", 1)

    def run(session: Any) -> None:
        kind = format_for(file, fmt)
        with click.progressbar(length=_count_lines(file), label="rows", file=sys.stderr) as bar:
            report = import_file(session, catalogue_of(session), file, fmt=kind,
                                 actor=actor or admin_actor(), dry_run=dry_run,
                                 progress=bar.update, chain_depth=depth)
        if not dry_run:
            audit_admin(session, "admin.mandates_imported", None, {
                "file": str(file), "format": kind, "actor": actor or admin_actor(),
                "accepted": report.accepted, "skipped": report.skipped,
                "rejected": len(report.rejected)})
            session.commit()
        verb = "would import" if dry_run else "imported"
        click.echo(f"{verb} {report.accepted}, already present {report.skipped}, "
                   f"rejected {len(report.rejected)}")
        for rejection in report.rejected[:50]:
            click.echo(f"  line {rejection.line}: {rejection.reason}")
        if len(report.rejected) > 50:
            click.echo(f"  ... and {len(report.rejected) - 50} more"
                       + ("" if report_file else " (use --report FILE for all)"))
        if report_file:
            _write_rejections(report_file, report.rejected)
            click.echo(f"rejected rows written to {report_file}")
        if report.rejected:
            sys.exit(1)

    with_database(instance, config, run)


def _count_lines(path: Path) -> int:
    """Lines in the file, counted in chunks (for the progress bar), minus a CSV header."""
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return max(count - (1 if path.suffix.lower() == ".csv" else 0), 0)


def _write_rejections(path: Path, rejections: Any) -> None:
    import csv

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason", "reden"])
        for rejection in rejections:
            writer.writerow([rejection.line, rejection.reason, rejection.reason_nl])
