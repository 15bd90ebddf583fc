"""Hold under races and faults: versions on mandates and roles, named locks, the login
journal, form submission marks; wrong attempts and locks move to the state store.

- ``mandate.version`` and ``organisation_role.version``: SQLAlchemy's optimistic version
  counter, so of two requests changing one row at once the second changes nothing.
- ``lock_bucket``: rows held while checking for duplicates and chain loops (broker.locks).
- ``login_in_progress``: logins authenticated and not yet ended in the audit trail
  (broker.journal).
- ``form_submission``: one-time marks of forms that create something (broker.submissions).
- ``login_lock`` and ``attempt_counter`` are dropped: account locks, wrong-attempt counts
  and activation attempts per person are atomic counters in the state store now. Locks in
  force at the upgrade are lifted by it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mandate", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1",
                                      nullable=False))
    with op.batch_alter_table("organisation_role", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1",
                                      nullable=False))
    op.create_table(
        "lock_bucket",
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("bucket", name=op.f("pk_lock_bucket")),
    )
    op.create_table(
        "login_in_progress",
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("requester", sa.String(length=500), nullable=False),
        sa.Column("frontend", sa.String(length=100), nullable=False),
        sa.Column("service", sa.String(length=36), nullable=False),
        sa.Column("connector", sa.String(length=100), nullable=False),
        sa.Column("authenticated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("flow", name=op.f("pk_login_in_progress")),
    )
    with op.batch_alter_table("login_in_progress", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_in_progress_expires_at"), ["expires_at"],
                              unique=False)
    op.create_table(
        "form_submission",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=500), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_form_submission")),
    )
    with op.batch_alter_table("form_submission", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_form_submission_at"), ["at"], unique=False)
    op.drop_table("login_lock")
    op.drop_table("attempt_counter")


def downgrade() -> None:
    op.create_table(
        "attempt_counter",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_attempt_counter")),
    )
    op.create_table(
        "login_lock",
        sa.Column("realm", sa.String(length=40), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("realm", "username", name=op.f("pk_login_lock")),
    )
    with op.batch_alter_table("form_submission", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_form_submission_at"))
    op.drop_table("form_submission")
    with op.batch_alter_table("login_in_progress", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_in_progress_expires_at"))
    op.drop_table("login_in_progress")
    op.drop_table("lock_bucket")
    with op.batch_alter_table("organisation_role", schema=None) as batch_op:
        batch_op.drop_column("version")
    with op.batch_alter_table("mandate", schema=None) as batch_op:
        batch_op.drop_column("version")
