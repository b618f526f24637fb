"""The directory: the server's accounts as the people a user can search for and add.

Search is by prefix, word by word, ignoring case and accents: "zoë" finds "Zoe Ng" and
"ZOË", "ng z" finds her too. Each entry is indexed under search terms — the words of its
display name, given name and surname, its e-mail address and IM address whole and their local
parts — folded to one spelling (``fold``). A query matches an entry when every one of its words
is a prefix of one of the entry's terms. Terms are stored as UTF-8 bytes: a byte prefix of
UTF-8 is a character prefix, and bytes compare the same way on every database, so "every term
starting with p" is the b-tree range [p, p + 0xFF) everywhere (0xFF never occurs in UTF-8).
"""

import re
import unicodedata
from dataclasses import dataclass

# Longer words are indexed by their first 100 characters, and queries cut to the same length, so a
# prefix search is exact for queries up to 100 characters. Cut after folding, in characters: a term
# is at most 400 bytes of UTF-8 whatever the input, far below PostgreSQL's b-tree entry limit
# (about 2700 bytes), so no word, however long, can make an index entry the database refuses.
MAX_TERM_CHARS = 100
MAX_QUERY_WORDS = 8  # further words are ignored: eight prefixes pin down anyone

# Letters Unicode does not decompose into a base letter and a mark.
_LIGATURES = str.maketrans(
    {"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "\u0131": "i"}
    | {"æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th"}
)
_PARTS = re.compile(r"[^\w]+|_")


def fold(text: str) -> str:
    """One spelling per name: no accents, case-folded, compatibility forms unified."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def strip_sip(address: str) -> str:
    return address[4:] if address[:4].lower() == "sip:" else address


def _words(text: str | None) -> set[str]:
    """Each word, and each part of a word joined by punctuation ("jean-luc": also jean, luc)."""
    out: set[str] = set()
    for word in fold(text or "").split():
        out.add(word)
        out.update(p for p in _PARTS.split(word) if p)
    return out


def _address(text: str | None) -> set[str]:
    """An address whole, its local part and the local part's pieces (first.last → first, last)."""
    address = fold(strip_sip((text or "").strip()))
    if not address:
        return set()
    local = address.split("@", 1)[0]
    return {address, local, *(p for p in _PARTS.split(local) if p)}


@dataclass(frozen=True, slots=True)
class Entry:
    """What the directory publishes about one account."""

    user_id: int
    email: str
    display_name: str
    im_address: str | None = None
    given_name: str | None = None
    surname: str | None = None
    title: str | None = None
    department: str | None = None
    company_name: str | None = None
    business_phone: str | None = None
    mobile_phone: str | None = None

    @property
    def sip_address(self) -> str:
        """The IM address clients should use: the published one, else the e-mail address as a SIP
        URI (how Lync deployments commonly assign them, and what AddNewImContactToGroup resolves)."""
        return self.im_address or f"sip:{self.email}"


def terms(
    *,
    display_name: str | None,
    email: str | None,
    im_address: str | None,
    given_name: str | None,
    surname: str | None,
) -> set[bytes]:
    words = _words(display_name) | _words(given_name) | _words(surname) | _address(email) | _address(im_address)
    return {w[:MAX_TERM_CHARS].encode() for w in words if w}


def sort_key(display_name: str, email: str) -> bytes:
    """Results are listed by folded display name, then address: the same order on every backend."""
    return f"{fold(display_name)}\0{email.lower()}".encode()


def query_words(query: str) -> list[bytes]:
    """The prefixes a query asks for, longest first (the most selective drives the index range)."""
    words = {fold(strip_sip(w))[:MAX_TERM_CHARS] for w in query.split()}
    ordered = sorted((w for w in words if w), key=lambda w: (-len(w), w))
    return [w.encode() for w in ordered[:MAX_QUERY_WORDS]]


def prefix_range(prefix: bytes) -> tuple[bytes, bytes]:
    """[low, high) holding exactly the byte strings that start with ``prefix``."""
    return prefix, prefix + b"\xff"
