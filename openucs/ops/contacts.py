"""AddNewImContactToGroup, AddNewTelUriContactToGroup, AddImContactToGroup,
RemoveImContactFromGroup, RemoveContactFromImList: contacts and their membership."""

from openucs.domain import imlist
from openucs.domain.model import Contact
from openucs.ews import requests as rq
from openucs.ews.responses import Response
from openucs.ops.context import Context
from openucs.ops.views import ViewMaker


def _persona_response(operation: str, contact: Contact, ctx: Context) -> Response:
    return Response(operation, payload=ViewMaker(ctx.codec, ctx.mailbox_id).persona(contact))


def add_new_im_contact_to_group(req: rq.AddNewImContactToGroup, ctx: Context) -> Response:
    group_id = ctx.optional_group_id(req.group_id)
    with ctx.write() as tx:
        contact = imlist.add_new_contact(
            tx.imlist(ctx.mailbox_id),
            ctx.limits,
            tx.directory,
            req.im_address.strip(),
            display_name=req.display_name,
            group_id=group_id,
        )
    return _persona_response("AddNewImContactToGroup", contact, ctx)


def add_new_tel_uri_contact_to_group(req: rq.AddNewTelUriContactToGroup, ctx: Context) -> Response:
    group_id = ctx.optional_group_id(req.group_id)
    number = req.im_telephone_number.strip()
    with ctx.write() as tx:
        contact = imlist.add_new_contact(
            tx.imlist(ctx.mailbox_id),
            ctx.limits,
            tx.directory,
            req.im_contact_sip_uri_address.strip(),
            display_name=number,
            group_id=group_id,
            phone=number,
        )
    return _persona_response("AddNewTelUriContactToGroup", contact, ctx)


def add_im_contact_to_group(req: rq.AddImContactToGroup, ctx: Context) -> Response:
    contact_id = ctx.contact_id(req.contact_id)
    group_id = ctx.optional_group_id(req.group_id)
    with ctx.write() as tx:
        imlist.add_contact_to_group(tx.imlist(ctx.mailbox_id), contact_id, group_id)
    return Response("AddImContactToGroup")


def remove_im_contact_from_group(req: rq.RemoveImContactFromGroup, ctx: Context) -> Response:
    contact_id = ctx.contact_id(req.contact_id)
    group_id = ctx.group_id(req.group_id)
    with ctx.write() as tx:
        imlist.remove_contact_from_group(tx.imlist(ctx.mailbox_id), contact_id, group_id)
    return Response("RemoveImContactFromGroup")


def remove_contact_from_im_list(req: rq.RemoveContactFromImList, ctx: Context) -> Response:
    contact_id = ctx.contact_id(req.contact_id)
    with ctx.write() as tx:
        imlist.remove_contact(tx.imlist(ctx.mailbox_id), contact_id)
    return Response("RemoveContactFromImList")
