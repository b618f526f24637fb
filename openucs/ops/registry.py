"""The table of contents: request type → handler."""

from collections.abc import Callable
from typing import Any

from openucs.ews import requests as rq
from openucs.ews.responses import Response
from openucs.ops import contacts, distribution_groups, groups, lists, migration, people
from openucs.ops.context import Context

Handler = Callable[[Any, Context], Response]

HANDLERS: dict[type, Handler] = {
    rq.GetImItemList: lists.get_im_item_list,
    rq.GetImItems: lists.get_im_items,
    rq.AddImGroup: groups.add_im_group,
    rq.SetImGroup: groups.set_im_group,
    rq.RemoveImGroup: groups.remove_im_group,
    rq.AddNewImContactToGroup: contacts.add_new_im_contact_to_group,
    rq.AddNewTelUriContactToGroup: contacts.add_new_tel_uri_contact_to_group,
    rq.AddImContactToGroup: contacts.add_im_contact_to_group,
    rq.RemoveImContactFromGroup: contacts.remove_im_contact_from_group,
    rq.RemoveContactFromImList: contacts.remove_contact_from_im_list,
    rq.AddDistributionGroupToImList: distribution_groups.add_distribution_group_to_im_list,
    rq.RemoveDistributionGroupFromImList: distribution_groups.remove_distribution_group_from_im_list,
    rq.SetImListMigrationCompleted: migration.set_im_list_migration_completed,
    rq.FindPeople: people.find_people,
    rq.GetUserPhoto: people.get_user_photo,
}

# Operations that change nothing: the audit log and throttling treat them apart.
READ_ONLY = frozenset({"GetImItemList", "GetImItems", "FindPeople", "GetUserPhoto"})
