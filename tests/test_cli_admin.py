"""`broker admin`: add, list, unlock and reset administrators from the command line."""

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from broker.cli import main


@pytest.fixture
def run(instance_path: Path) -> Any:
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(main, [*args, "--instance", str(instance_path)], input=stdin,
                             catch_exceptions=False)
    return invoke


def test_admin_add_then_list_shows_no_second_factor_yet(run: Any) -> None:
    result = run("admin", "add", "--username", "Anna", "--email", "anna@example.nl",
                 "--password-stdin", stdin="een-lang-wachtwoord\n")
    assert result.exit_code == 0, result.output
    assert "administrator anna added" in result.output
    listed = run("admin", "list")
    assert "anna <anna@example.nl>: no second factor yet" in listed.output
    assert "beheerder <beheerder@example.nl>" in listed.output  # the demo world's


@pytest.mark.parametrize(("username", "email", "password", "message"), [
    ("a", "anna@example.nl", "een-lang-wachtwoord", "2 to 64 characters"),
    ("anna", "geen-adres", "een-lang-wachtwoord", "valid e-mail address"),
    ("anna", "anna@example.nl", "kort", "at least 12 characters"),
    ("anna", "anna@example.nl", "anna-heeft-een-wachtwoord", "must not contain the username"),
    ("beheerder", "b@example.nl", "een-lang-wachtwoord", "exists already"),
])
def test_admin_add_refuses_bad_input_and_adds_nothing(run: Any, username: str, email: str,
                                                      password: str, message: str) -> None:
    result = run("admin", "add", "--username", username, "--email", email,
                 "--password-stdin", stdin=password + "\n")
    assert result.exit_code != 0 and message in result.output
    assert "anna" not in run("admin", "list").output


def test_admin_unlock_lifts_a_mock_account_lock_and_is_audited(run: Any,
                                                               database_url: str,
                                                               instance_path: Path) -> None:
    """The lock is where the broker keeps it (its state store: Redis when REDIS_URL is set),
    and the command line lifts it there."""
    from flask import Flask

    from broker.accounts.guard import LoginGuard
    from broker.accounts.policy import AccountPolicy
    from broker.clock import utcnow
    from broker.config import demo_config
    from broker.config import load_settings
    from broker.db import sqlalchemy_url
    from broker.state import open_store
    from broker.web.database import db
    from tests.conftest import release

    run("admin", "list")  # makes the instance
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(database_url)
    db.init_app(app)
    settings = load_settings(demo_config("http://127.0.0.1:5000"), instance_path=instance_path)
    with app.app_context():
        guard = LoginGuard(open_store(settings, db.session), "digid", AccountPolicy(), utcnow)
        for _ in range(5):
            guard.failed(guard.check("jan", "192.0.2.1"))
        assert guard.locked_until("jan") is not None
    release(app)
    result = run("admin", "unlock", "jan", "--realm", "digid")
    assert result.exit_code == 0 and "digid:jan unlocked" in result.output
    assert "digid:jan was not locked" in run("admin", "unlock", "jan", "--realm",
                                             "digid").output
    shown = run("audit", "show", "--last", "2").output
    assert "admin.account_unlocked" in shown


def test_admin_reset_second_factor_of_an_unknown_account_is_refused(run: Any) -> None:
    result = run("admin", "reset-second-factor", "niemand")
    assert result.exit_code != 0 and "Unknown account" in result.output
