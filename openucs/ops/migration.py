"""SetImListMigrationCompleted: a flag on the account, not on the mailbox's list."""

from openucs.domain.errors import MigrationNotPossible
from openucs.ews import requests as rq
from openucs.ews.responses import Response
from openucs.ops.context import Context


def set_im_list_migration_completed(req: rq.SetImListMigrationCompleted, ctx: Context) -> Response:
    with ctx.write() as tx:
        if tx.accounts.by_id(ctx.mailbox_id) is None:
            raise MigrationNotPossible(ctx.mailbox_id)
        tx.accounts.set_migration_completed(ctx.mailbox_id, req.im_list_migration_completed)
    return Response("SetImListMigrationCompleted")
