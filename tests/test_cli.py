"""The broker command: each command's success and its refusals, on a real instance folder."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from broker import keys
from broker.cli import main
from broker.saml.metadata import sp_descriptor

INKOMSTEN = "92a383fd-f732-5aaf-af23-d9acf46c4c3a"
ZORG = "e00bfadf-3129-5f5d-88eb-63e4ca833c5d"


@pytest.fixture
def run(instance_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str) -> object:
        return runner.invoke(main, [*args, "--instance", str(instance_path)],
                             catch_exceptions=False)
    return invoke


def test_clients_add_prints_a_generated_secret_once(run) -> None:  # type: ignore[no-untyped-def]
    result = run("clients", "add", "--client-id", "rp-1", "--redirect-uri",
                 "https://rp.example/cb", "--bsn", "--name", "Gemeente Voorbeeld")
    assert result.exit_code == 0, result.output
    assert "may receive the BSN" in result.output
    assert "client secret (shown once): " in result.output


@pytest.mark.parametrize(("uri", "message"), [
    ("http://rp.example/cb", "allowed only for localhost"),
    ("https://rp.example/*", "wildcard"),
    ("https://rp.example/cb#x", "fragment"),
    ("/relative", "not an absolute"),
])
def test_clients_add_refuses_a_bad_redirect_uri(run, uri: str, message: str) -> None:  # type: ignore[no-untyped-def]
    result = run("clients", "add", "--client-id", "rp-1", "--redirect-uri", uri)
    assert result.exit_code == 1 and message in result.output


def test_clients_add_refuses_a_short_secret(run) -> None:  # type: ignore[no-untyped-def]
    result = run("clients", "add", "--client-id", "rp-1", "--redirect-uri",
                 "https://rp.example/cb", "--secret", "short")
    assert result.exit_code == 1 and "at least 32" in result.output


def test_sp_add_registers_by_metadata_file(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    document = sp_descriptor(entity_id="https://sp.example/md", key=keys.generate("sp"),
                             acs_url="https://sp.example/acs",
                             services=[(1, "Inkomstenbelasting", INKOMSTEN)])
    (tmp_path / "sp.xml").write_bytes(document)
    result = run("sp", "add", "--metadata", str(tmp_path / "sp.xml"))
    assert result.exit_code == 0, result.output
    assert f"default service {INKOMSTEN}" in result.output


def test_sp_add_refuses_a_file_that_is_not_metadata(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bad.xml").write_text("<html/>")
    result = run("sp", "add", "--metadata", str(tmp_path / "bad.xml"))
    assert result.exit_code == 1 and "refused" in result.output


def test_check_config_names_the_bad_key(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "broker.toml"
    config.write_text('[broker]\nbase_url = "https://b.example"\ncolour = "blue"\n')
    result = run("check-config", "--config", str(config))
    assert result.exit_code == 1 and "broker.colour: unknown key" in result.output


def test_check_config_refuses_mock_connectors_unless_allowed(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "broker.toml"
    config.write_text('[broker]\nbase_url = "https://b.example"\n'
                      '[connectors.digid]\ntype = "mock_digid"\n'
                      '[frontends.oidc]\ntype = "oidc"\n')
    result = run("check-config", "--config", str(config))
    assert result.exit_code == 1 and "mock connector refused" in result.output


def test_check_config_accepts_a_production_style_config(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from broker.saml.metadata import idp_descriptor

    idp = idp_descriptor(entity_id="https://idp.example/md", key=keys.generate("idp"),
                         sso_url="https://idp.example/sso")
    (tmp_path / "idp.xml").write_bytes(idp)
    config = tmp_path / "broker.toml"
    config.write_text(f'[broker]\nbase_url = "https://b.example"\n'
                      f'[connectors.digid]\ntype = "saml"\nlabel = "DigiD"\n'
                      f'metadata = "{tmp_path / "idp.xml"}"\n'
                      f'[frontends.oidc]\ntype = "oidc"\n[frontends.saml]\ntype = "saml_idp"\n'
                      f'[plugins.machtigen]\ntype = "digid_machtigen"\n')
    result = run("check-config", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert "OK (1 connector(s), 2 frontend(s))" in result.output


def test_check_config_names_an_unknown_plugin_option(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "broker.toml"
    config.write_text('[broker]\nbase_url = "http://127.0.0.1:5000"\nallow_mock_connectors = true\n'
                      '[connectors.digid]\ntype = "mock_digid"\n[frontends.oidc]\ntype = "oidc"\n'
                      '[plugins.machtigen]\ntype = "digid_machtigen"\nflavour = "x"\n')
    result = run("check-config", "--config", str(config))
    assert result.exit_code == 1 and "plugins.machtigen" in result.output


def test_legal_add_records_and_refuses_a_role_the_service_does_not_accept(run) -> None:  # type: ignore[no-untyped-def]
    ok = run("mandates", "legal", "add", "--represented", "999993653", "--representative",
             "999991772", "--role", "curatele", "--service", INKOMSTEN, "--court-reference", "C/1")
    assert ok.exit_code == 0 and "recorded curatele" in ok.output
    refused = run("mandates", "legal", "add", "--represented", "999993653", "--representative",
                  "999991772", "--role", "bewind", "--service", ZORG, "--court-reference", "C/2")
    assert refused.exit_code == 1 and "does not accept" in refused.output


def test_legal_import_reports_refused_rows_by_line_and_adds_nothing_twice(
        run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    csv_file = tmp_path / "decisions.csv"
    csv_file.write_text(
        "represented_bsn,representative_bsn,role,services,court_reference,valid_until\n"
        f"999993653,999991772,mentorschap,{ZORG},C/1,2030-01-01\n"
        f"123456789,999991772,bewind,{INKOMSTEN},C/2,\n"
        f"999993653,999991772,bewind,{INKOMSTEN},C/3,01-01-2030\n")
    dry = run("mandates", "legal", "import", str(csv_file), "--dry-run")
    assert "would record 1" in dry.output and "line 3:" in dry.output and "line 4:" in dry.output
    first = run("mandates", "legal", "import", str(csv_file))
    assert "recorded 1, already present 0, refused 2" in first.output and first.exit_code == 1
    second = run("mandates", "legal", "import", str(csv_file))
    assert "recorded 0, already present 1, refused 2" in second.output


def test_totp_prints_the_demo_code() -> None:
    result = CliRunner().invoke(main, ["totp"])
    assert result.exit_code == 0 and len(result.output.strip()) == 6


OMZET = "ccc77903-dc20-519b-bf8a-35c0b74d02e2"
BULK_HEADER = ("kind,represented_type,represented,representative_type,representative,services,"
               "loa,branch,valid_from,valid_until\n")


def test_mandates_import_imports_and_adds_nothing_twice(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    csv_file = tmp_path / "mandates.csv"
    csv_file.write_text(BULK_HEADER + f"chain,kvk,30000003,kvk,20000002,{OMZET},,,2025-01-01,\n"
                        f"company,kvk,30000003,pseudonym,emp@x,{OMZET},high,,2025-01-01,\n")
    first = run("mandates", "import", str(csv_file), "--actor", "admin:bulk")
    assert first.exit_code == 0 and "imported 2, already present 0, rejected 0" in first.output
    second = run("mandates", "import", str(csv_file))
    assert second.exit_code == 0 and "imported 0, already present 2, rejected 0" in second.output


def test_mandates_import_rejected_rows_exit_1_with_lines_and_report_file(
        run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    jsonl = tmp_path / "mandates.jsonl"
    good = {"kind": "chain", "represented_type": "kvk", "represented": "30000003",
            "representative_type": "kvk", "representative": "20000002", "services": [OMZET],
            "valid_from": "2025-01-01"}
    jsonl.write_text(json.dumps(good) + "\n" + json.dumps(good | {"represented": "123"}) + "\n")
    report = tmp_path / "rejected.csv"
    result = run("mandates", "import", str(jsonl), "--report", str(report))
    assert result.exit_code == 1
    assert "imported 1, already present 0, rejected 1" in result.output
    assert "line 2: represented: invalid KvK number" in result.output
    assert report.read_text().splitlines()[0] == "line,reason,reden"
    assert report.read_text().splitlines()[1].startswith("2,represented: invalid KvK number")


def test_mandates_import_dry_run_writes_nothing(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    csv_file = tmp_path / "mandates.csv"
    csv_file.write_text(BULK_HEADER + f"chain,kvk,30000003,kvk,20000002,{OMZET},,,2025-01-01,\n")
    dry = run("mandates", "import", str(csv_file), "--dry-run")
    assert dry.exit_code == 0 and "would import 1, already present 0" in dry.output
    real = run("mandates", "import", str(csv_file))
    assert "imported 1, already present 0" in real.output


def test_mandates_import_refuses_a_bad_header(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    csv_file = tmp_path / "mandates.csv"
    csv_file.write_text("kind,colour\nchain,blue\n")
    result = run("mandates", "import", str(csv_file))
    assert result.exit_code == 1 and "refused" in result.output and "header" in result.output
