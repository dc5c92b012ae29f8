"""One head again: the feature branches (hooks, observability, notify, runtimes, teams, previews, alerts)
were written side by side from 0001; this revision joins them so the next change has a single parent.

Revision ID: 0009
Revises: 0002, 0003, 0005, 0006, 0007, 0008
"""

revision = "0009"
down_revision = ("0002", "0003", "0005", "0006", "0007", "0008")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
