"""FindPeople and GetUserPhoto: the directory, searched and pictured.

GetUserPhoto answers as Exchange does: the photo scaled to the requested size with an entity
tag (``ETag``); when the client's If-None-Match names that tag, HasChanged false and no picture;
for an address with no photo (or no account), ErrorItemNotFound with HTTP status 404 — the
status the EWS Managed API turns into "photo or user not found". The same answers, as plain
HTTP, serve the REST form ``GET /EWS/Exchange.asmx/s/GetUserPhoto?email=...&size=...`` (304
for an unchanged photo).
"""

from dataclasses import dataclass, replace

from openucs.domain.directory import Entry, query_words
from openucs.ews import requests as rq
from openucs.ews.codes import MESSAGE_TEXT, ResponseCode
from openucs.ews.responses import DirectoryPersonaView, PeopleView, Response, UserPhotoView
from openucs.ops.context import Context
from openucs.ops.ids import IdCodec, IdKind
from openucs.photos import CONTENT_TYPE, SIZES, ScaledPhotos, scale
from openucs.store.port import Store

DIRECTORY = "directory"
DEFAULT_PAGE = 100  # IndexedPageItemView without MaxEntriesReturned
MAX_PAGE = 1000  # larger pages are cut to this

# PersonaType elements a Default (or fuller) PersonaShape returns; IdOnly returns PersonaId and
# the AdditionalProperties named.
DEFAULT_FIELDS = frozenset(
    {
        "PersonaType",
        "DisplayName",
        "DisplayNameFirstLast",
        "DisplayNameLastFirst",
        "FileAs",
        "GivenName",
        "Surname",
        "Title",
        "Department",
        "CompanyName",
        "EmailAddress",
        "PhoneNumber",
        "ImAddress",
    }
)

NO_QUERY = "A directory search needs a QueryString: the directory cannot be browsed."

# Scaled photos, shared by every request of this process (see ScaledPhotos: keys cannot go stale).
PHOTOS = ScaledPhotos()


def _fields(req: rq.FindPeople) -> frozenset[str]:
    asked = frozenset(p.removeprefix("persona:") for p in req.additional_properties)
    return asked if req.base_shape == "IdOnly" else DEFAULT_FIELDS | asked


def persona(codec: IdCodec, entry: Entry, fields: frozenset[str]) -> DirectoryPersonaView:
    return DirectoryPersonaView(
        persona_id=codec.encode(0, IdKind.DIRECTORY, entry.user_id),
        display_name=entry.display_name,
        email_address=entry.email,
        im_address=entry.sip_address,
        fields=fields,
        given_name=entry.given_name,
        surname=entry.surname,
        title=entry.title,
        department=entry.department,
        company_name=entry.company_name,
        business_phone=entry.business_phone,
    )


def find_people(req: rq.FindPeople, ctx: Context) -> Response:
    """Prefix search of the directory, one page (the schema admits only the directory folder)."""
    words = query_words(req.query_string or "")
    if not words:
        return Response("FindPeople", ResponseCode.INVALID_ARGUMENT, NO_QUERY)
    if req.offset < 0 or (req.max_entries is not None and req.max_entries < 1):
        code = ResponseCode.INVALID_INDEXED_PAGING_PARAMETERS
        return Response("FindPeople", code, MESSAGE_TEXT[code])
    limit = min(req.max_entries or DEFAULT_PAGE, MAX_PAGE)
    with ctx.read() as tx:
        page = tx.people.search(words, req.offset, limit, from_end=req.from_end)
    fields = _fields(req)
    people = tuple(persona(ctx.codec, e, fields) for e in page.entries)
    return Response("FindPeople", payload=PeopleView(people, page.total, page.first))


# -- photos


@dataclass(frozen=True, slots=True)
class PhotoAnswer:
    """One photo lookup: ``data`` None and ``etag`` None when there is no photo; ``data`` None
    with an ``etag`` when the client's copy is current."""

    etag: str | None
    data: bytes | None

    @property
    def found(self) -> bool:
        return self.etag is not None


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip().removeprefix("W/").strip('"')
        if tag in ("*", etag):
            return True
    return False


def user_photo(store: Store, email: str, size: str, if_none_match: str | None = None) -> PhotoAnswer:
    """The photo of the account with this address at this size (one of photos.SIZES)."""
    with store.transaction(write=False) as tx:
        tag = tx.people.photo_etag(email)
    if tag is None:
        return PhotoAnswer(None, None)
    etag = f"{tag}-{size}"
    if _matches(if_none_match, etag):
        return PhotoAnswer(etag, None)
    data = PHOTOS.get(tag, size)
    if data is None:
        with store.transaction(write=False) as tx:
            stored = tx.people.photo(email)
        if stored is None:  # removed since the first read
            return PhotoAnswer(None, None)
        data = scale(stored.data, size)
        PHOTOS.put(stored.etag, size, data)
        etag = f"{stored.etag}-{size}"
    return PhotoAnswer(etag, data)


def get_user_photo(req: rq.GetUserPhoto, ctx: Context) -> Response:
    if req.type_requested == "ProfileHeaderPhoto":  # openucs keeps no header photos
        answer = PhotoAnswer(None, None)
    else:
        answer = user_photo(ctx.store, req.email, req.size_requested, req.if_none_match)
    if not answer.found:
        code = ResponseCode.ITEM_NOT_FOUND
        return Response("GetUserPhoto", code, MESSAGE_TEXT[code], UserPhotoView(False), http_status=404)
    return Response("GetUserPhoto", payload=UserPhotoView(answer.data is not None, answer.data), etag=answer.etag)


def with_if_none_match(envelope: rq.Envelope, value: str | None) -> rq.Envelope:
    """The transport's If-None-Match, handed to a GetUserPhoto request (other requests ignore it)."""
    if value and isinstance(envelope.request, rq.GetUserPhoto):
        return replace(envelope, request=replace(envelope.request, if_none_match=value))
    return envelope


# -- the REST form


@dataclass(frozen=True, slots=True)
class RestPhoto:
    status: int
    body: bytes
    content_type: str
    etag: str | None = None


def rest_size(value: str | None) -> str | None:
    """``size=hr48x48`` and the like, in any letter case; HR48x48 when absent; None when unknown."""
    if not value:
        return "HR48x48"
    by_lower = {s.lower(): s for s in SIZES}
    return by_lower.get(value.strip().lower())


def rest_user_photo(store: Store, email: str | None, size: str | None, if_none_match: str | None) -> RestPhoto:
    """``GET /EWS/Exchange.asmx/s/GetUserPhoto?email=...&size=...``: the picture itself."""
    text = "text/plain; charset=utf-8"
    if not email:
        return RestPhoto(400, b"The email parameter is required.\n", text)
    known = rest_size(size)
    if known is None:
        return RestPhoto(400, f"Unknown photo size; use one of {', '.join(SIZES)}.\n".encode(), text)
    answer = user_photo(store, email, known, if_none_match)
    if not answer.found:
        return RestPhoto(404, b"There is no photo for this address.\n", text)
    if answer.data is None:
        return RestPhoto(304, b"", CONTENT_TYPE, answer.etag)
    return RestPhoto(200, answer.data, CONTENT_TYPE, answer.etag)
