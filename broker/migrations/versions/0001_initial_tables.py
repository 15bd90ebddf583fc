"""The broker's tables as they stood when migrations began (made by create_all before).

Revision ID: 0001
Revises:
Create Date: 2026-11-23 05:03:33.119413
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_account",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_admin_account")),
    )
    op.create_table(
        "attempt_counter",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_attempt_counter")),
    )
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entry")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_entry_hash")),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entry_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entry_subject"), ["subject"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "backup_code",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("realm", sa.String(length=40), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_backup_code_code_hash")),
    )
    with op.batch_alter_table("backup_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backup_code_realm"), ["realm"], unique=False)
        batch_op.create_index(batch_op.f("ix_backup_code_username"), ["username"], unique=False)

    op.create_table(
        "brp_person",
        sa.Column("bsn", sa.String(length=9), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("bsn", name=op.f("pk_brp_person")),
    )
    op.create_table(
        "ephemeral_state",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_ephemeral_state")),
    )
    with op.batch_alter_table("ephemeral_state", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ephemeral_state_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "login_lock",
        sa.Column("realm", sa.String(length=40), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("realm", "username", name=op.f("pk_login_lock")),
    )
    op.create_table(
        "mandate",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=True),
        sa.Column("represented_type", sa.String(length=10), nullable=False),
        sa.Column("represented_id", sa.String(length=200), nullable=False),
        sa.Column("representative_type", sa.String(length=10), nullable=False),
        sa.Column("representative_id", sa.String(length=200), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("loa", sa.String(length=20), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("court_reference", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("import_key", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mandate")),
    )
    with op.batch_alter_table("mandate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mandate_import_key"), ["import_key"], unique=True)
        batch_op.create_index(
            "ix_mandate_representative", ["representative_type", "representative_id", "state"], unique=False
        )
        batch_op.create_index("ix_mandate_represented", ["represented_type", "represented_id"], unique=False)

    op.create_table(
        "mock_account",
        sa.Column("idp", sa.String(length=40), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("identifier", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("idp", "username", name=op.f("pk_mock_account")),
    )
    op.create_table(
        "oidc_client",
        sa.Column("client_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("claims_profile", sa.String(length=20), nullable=False),
        sa.Column("may_receive_bsn", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oidc_client")),
    )
    op.create_table(
        "organisation",
        sa.Column("kvk", sa.String(length=8), nullable=False),
        sa.Column("rsin", sa.String(length=9), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("branch", sa.String(length=12), nullable=True),
        sa.PrimaryKeyConstraint("kvk", name=op.f("pk_organisation")),
    )
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organisation_rsin"), ["rsin"], unique=False)

    op.create_table(
        "service",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("min_loa", sa.String(length=20), nullable=False),
        sa.Column("accepts", sa.JSON(), nullable=False),
        sa.Column("allows_self", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_service")),
    )
    op.create_table(
        "service_provider",
        sa.Column("entity_id", sa.String(length=500), nullable=False),
        sa.Column("metadata_xml", sa.Text(), nullable=False),
        sa.Column("default_service", sa.String(length=36), nullable=True),
        sa.Column("services_by_index", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("entity_id", name=op.f("pk_service_provider")),
    )
    op.create_table(
        "state_counter",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_state_counter")),
    )
    with op.batch_alter_table("state_counter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_state_counter_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "activation_code",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mandate_id", sa.String(length=36), nullable=False),
        sa.Column("code_hash", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["mandate_id"], ["mandate.id"], name=op.f("fk_activation_code_mandate_id_mandate")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activation_code")),
    )
    with op.batch_alter_table("activation_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activation_code_mandate_id"), ["mandate_id"], unique=False)

    op.create_table(
        "letter",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recipient_bsn", sa.String(length=9), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("mandate_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(["mandate_id"], ["mandate.id"], name=op.f("fk_letter_mandate_id_mandate")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter")),
    )
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_letter_recipient_bsn"), ["recipient_bsn"], unique=False)

    op.create_table(
        "mandate_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mandate_id", sa.String(length=36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_state", sa.String(length=30), nullable=True),
        sa.Column("to_state", sa.String(length=30), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["mandate_id"], ["mandate.id"], name=op.f("fk_mandate_event_mandate_id_mandate")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mandate_event")),
    )
    with op.batch_alter_table("mandate_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mandate_event_mandate_id"), ["mandate_id"], unique=False)

    op.create_table(
        "organisation_role",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kvk", sa.String(length=8), nullable=False),
        sa.Column("pseudonym", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("appointed_by", sa.String(length=120), nullable=False),
        sa.Column("appointed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["kvk"], ["organisation.kvk"], name=op.f("fk_organisation_role_kvk_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation_role")),
    )
    with op.batch_alter_table("organisation_role", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_organisation_role_kvk"), ["kvk"], unique=False)
        batch_op.create_index(batch_op.f("ix_organisation_role_pseudonym"), ["pseudonym"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("organisation_role", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_role_pseudonym"))
        batch_op.drop_index(batch_op.f("ix_organisation_role_kvk"))

    op.drop_table("organisation_role")
    with op.batch_alter_table("mandate_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mandate_event_mandate_id"))

    op.drop_table("mandate_event")
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letter_recipient_bsn"))

    op.drop_table("letter")
    with op.batch_alter_table("activation_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activation_code_mandate_id"))

    op.drop_table("activation_code")
    with op.batch_alter_table("state_counter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_state_counter_expires_at"))

    op.drop_table("state_counter")
    op.drop_table("service_provider")
    op.drop_table("service")
    with op.batch_alter_table("organisation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_rsin"))

    op.drop_table("organisation")
    op.drop_table("oidc_client")
    op.drop_table("mock_account")
    with op.batch_alter_table("mandate", schema=None) as batch_op:
        batch_op.drop_index("ix_mandate_represented")
        batch_op.drop_index("ix_mandate_representative")
        batch_op.drop_index(batch_op.f("ix_mandate_import_key"))

    op.drop_table("mandate")
    op.drop_table("login_lock")
    with op.batch_alter_table("ephemeral_state", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ephemeral_state_expires_at"))

    op.drop_table("ephemeral_state")
    op.drop_table("brp_person")
    with op.batch_alter_table("backup_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backup_code_username"))
        batch_op.drop_index(batch_op.f("ix_backup_code_realm"))

    op.drop_table("backup_code")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_subject"))
        batch_op.drop_index(batch_op.f("ix_audit_entry_action"))

    op.drop_table("audit_entry")
    op.drop_table("attempt_counter")
    op.drop_table("admin_account")
