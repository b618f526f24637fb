"""AddDistributionGroupToImList, RemoveDistributionGroupFromImList."""

from openucs.domain import imlist
from openucs.ews import requests as rq
from openucs.ews.responses import Response
from openucs.ops.context import Context
from openucs.ops.views import ViewMaker


def add_distribution_group_to_im_list(req: rq.AddDistributionGroupToImList, ctx: Context) -> Response:
    with ctx.write() as tx:
        group = imlist.add_distribution_group(
            tx.imlist(ctx.mailbox_id), ctx.limits, req.smtp_address.strip(), req.display_name
        )
    return Response("AddDistributionGroupToImList", payload=ViewMaker(ctx.codec, ctx.mailbox_id).group(group))


def remove_distribution_group_from_im_list(req: rq.RemoveDistributionGroupFromImList, ctx: Context) -> Response:
    group_id = ctx.group_id(req.group_id)
    with ctx.write() as tx:
        imlist.remove_distribution_group(tx.imlist(ctx.mailbox_id), group_id)
    return Response("RemoveDistributionGroupFromImList")
