"""Composition root: settings → store → service → ASGI app."""

import secrets

from openucs.admission import Admission
from openucs.audit import AuditLog
from openucs.auth.bearer import BearerBackend, jwt_settings
from openucs.auth.passwords import PasswordAuthenticator
from openucs.auth.throttle import LoginThrottle
from openucs.config import Settings
from openucs.domain.model import Limits
from openucs.ews.fragments import FragmentCache
from openucs.http import HttpApp
from openucs.ops.cache import ListCache
from openucs.ops.ids import IdCodec
from openucs.ops.service import Service
from openucs.store.open import open_store
from openucs.store.port import Store
from openucs.store.snapshots import SnapshotCache

ID_SECRET = "item-id-key"  # noqa: S105 - the name of a secret, not one


def id_codec(store: Store) -> IdCodec:
    """The id key lives in the database so every process and node issues and accepts the same ids."""
    with store.transaction(write=True) as tx:
        secret = tx.accounts.secret(ID_SECRET, secrets.token_hex(32))
    return IdCodec(bytes.fromhex(secret))


def build_service(store: Store, settings: Settings) -> Service:
    limits = Limits(contacts=settings.max_contacts, groups=settings.max_groups)
    cache = ListCache(settings.list_cache_mb * 1024 * 1024) if settings.list_cache_mb > 0 else None
    fragments = FragmentCache(settings.render_cache_mb * 1024 * 1024) if settings.render_cache_mb > 0 else None
    store.snapshots = SnapshotCache(settings.model_cache_mb * 1024 * 1024) if settings.model_cache_mb > 0 else None
    return Service(store, id_codec(store), limits, cache, fragments)


def build_app(settings: Settings) -> HttpApp:
    store = open_store(settings.database)
    throttle = LoginThrottle(
        base=settings.login_delay_ms / 1000,
        max_delay=settings.login_max_delay_ms / 1000,
        free=settings.login_free_failures,
    )
    jwt = jwt_settings(settings)
    return HttpApp(
        build_service(store, settings),
        PasswordAuthenticator(store),
        max_body_bytes=settings.max_body_bytes,
        threads=settings.threads,
        public_url=settings.public_url,
        bearer=BearerBackend(jwt, store, throttle) if jwt is not None else None,
        throttle=throttle,
        admission=Admission(
            max_per_user=settings.max_concurrency_per_user,
            busy_at=settings.busy_at,
            max_queue=settings.max_queue,
            parallelism=settings.threads,
        ),
        audit=AuditLog(settings.audit_log),
    )


def app_from_env() -> HttpApp:
    """Factory for uvicorn (``openucs.app:app_from_env``): each worker process builds its own."""
    return build_app(Settings.from_env())
