"""Composition root: settings → store → service → ASGI app."""

import secrets

from openucs.auth.passwords import PasswordAuthenticator
from openucs.config import Settings
from openucs.domain.model import Limits
from openucs.http import HttpApp
from openucs.ops.ids import IdCodec
from openucs.ops.service import Service
from openucs.store.open import open_store
from openucs.store.port import Store

ID_SECRET = "item-id-key"  # noqa: S105 - the name of a secret, not one


def id_codec(store: Store) -> IdCodec:
    """The id key lives in the database so every process and node issues and accepts the same ids."""
    with store.transaction(write=True) as tx:
        secret = tx.accounts.secret(ID_SECRET, secrets.token_hex(32))
    return IdCodec(bytes.fromhex(secret))


def build_service(store: Store, settings: Settings) -> Service:
    return Service(store, id_codec(store), Limits(contacts=settings.max_contacts, groups=settings.max_groups))


def build_app(settings: Settings) -> HttpApp:
    store = open_store(settings.database)
    return HttpApp(
        build_service(store, settings),
        PasswordAuthenticator(store),
        max_body_bytes=settings.max_body_bytes,
        threads=settings.threads,
        public_url=settings.public_url,
    )


def app_from_env() -> HttpApp:
    """Factory for uvicorn (``openucs.app:app_from_env``): each worker process builds its own."""
    return build_app(Settings.from_env())
