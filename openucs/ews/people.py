"""Readers for the two people operations IM clients send beside the contact-list ones:
FindPeople (directory search) and GetUserPhoto. Like every reader they run after the operation
element has been validated against the project's schema, so the structure is given."""

from typing import Any

from openucs.ews import requests as rq
from openucs.ews.namespaces import m, t

_FIELD_URI = t("FieldURI")


def _int(value: str | None) -> int | None:
    return None if value is None else int(value.strip())


def read_find_people(el: Any) -> rq.FindPeople:
    view = el.find(m("IndexedPageItemView"))
    shape = el.find(m("PersonaShape"))
    folder = el.find(f"{m('ParentFolderId')}/{t('DistinguishedFolderId')}")
    query = el.find(m("QueryString"))
    base_shape, additional = "Default", ()
    if shape is not None:
        base_shape = (shape.findtext(t("BaseShape")) or "Default").strip()
        paths = shape.find(t("AdditionalProperties"))
        if paths is not None:
            additional = tuple(p.get("FieldURI", "") for p in paths.iterchildren(_FIELD_URI))
    return rq.FindPeople(
        query_string=None if query is None else (query.text or ""),
        offset=_int(view.get("Offset")) or 0,
        max_entries=_int(view.get("MaxEntriesReturned")),
        from_end=view.get("BasePoint", "Beginning").strip() == "End",
        folder=None if folder is None else folder.get("Id"),
        base_shape=base_shape,
        additional_properties=additional,
    )


def read_get_user_photo(el: Any) -> rq.GetUserPhoto:
    kind = el.findtext(m("TypeRequested"))
    return rq.GetUserPhoto(
        email=(el.findtext(m("Email")) or "").strip(),
        size_requested=(el.findtext(m("SizeRequested")) or "").strip(),
        type_requested=None if kind is None else kind.strip(),
    )
