"""GetImItemList and GetImItems: reading the IM list."""

from openucs.domain import imlist
from openucs.ews import requests as rq
from openucs.ews.responses import Response
from openucs.ops.context import Context
from openucs.ops.ids import IdKind
from openucs.ops.views import ViewMaker, wanted_keys


def get_im_item_list(req: rq.GetImItemList, ctx: Context) -> Response:
    """Every group and every persona of the list. The system groups are created on first use;
    only that first read becomes a write."""
    with_properties = bool(req.extended_properties)
    with ctx.read_list(with_properties=with_properties) as reader:
        items = imlist.item_list(reader)
    if imlist.missing_system_groups(items.groups):
        with ctx.write() as tx:
            repo = tx.imlist(ctx.mailbox_id, with_properties=with_properties)
            repo.create_missing_system_groups()
            items = imlist.item_list(repo)
    views = ViewMaker(ctx.codec, ctx.mailbox_id, wanted_keys(req.extended_properties))
    return Response("GetImItemList", payload=views.item_list(items, omit_empty=False))


def get_im_items(req: rq.GetImItems, ctx: Context) -> Response:
    """The requested groups and personas; ids that are malformed or unknown are skipped."""
    # Clients may name a contact by its persona id too.
    contact_ids = ctx.lenient_ids(req.contact_ids, IdKind.CONTACT, IdKind.PERSONA)
    group_ids = ctx.lenient_ids(req.group_ids, IdKind.GROUP)
    with ctx.read_list(with_properties=bool(req.extended_properties)) as reader:
        items = imlist.items(reader, contact_ids, group_ids)
    views = ViewMaker(ctx.codec, ctx.mailbox_id, wanted_keys(req.extended_properties))
    return Response("GetImItems", payload=views.item_list(items, omit_empty=True))
