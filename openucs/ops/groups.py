"""AddImGroup, SetImGroup, RemoveImGroup: the user's own groups."""

from openucs.domain import imlist
from openucs.ews import requests as rq
from openucs.ews.responses import Response
from openucs.ops.context import Context
from openucs.ops.views import ViewMaker


def add_im_group(req: rq.AddImGroup, ctx: Context) -> Response:
    with ctx.write() as tx:
        group = imlist.add_group(tx.imlist(ctx.mailbox_id), ctx.limits, req.display_name)
    return Response("AddImGroup", payload=ViewMaker(ctx.codec, ctx.mailbox_id).group(group))


def set_im_group(req: rq.SetImGroup, ctx: Context) -> Response:
    group_id = ctx.group_id(req.group_id)
    with ctx.write() as tx:
        imlist.rename_group(tx.imlist(ctx.mailbox_id), group_id, req.new_display_name)
    return Response("SetImGroup")


def remove_im_group(req: rq.RemoveImGroup, ctx: Context) -> Response:
    group_id = ctx.group_id(req.group_id)
    with ctx.write() as tx:
        imlist.remove_group(tx.imlist(ctx.mailbox_id), group_id)
    return Response("RemoveImGroup")
