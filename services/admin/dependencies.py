"""What handlers get injected by name: the objects the app keeps in its state."""

from typing import Any

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from infra.crypto import SecretBox
from infra.outbox import Outbox
from infra.postgres import Pool
from infra.storage import ObjectStore
from services.admin.dashboard.stats import StatsCache
from services.admin.settings import AdminSettings

PoolDep = NamedDependency[Pool]
SecretBoxDep = NamedDependency[SecretBox]
OutboxDep = NamedDependency[Outbox]
SettingsDep = NamedDependency[AdminSettings]
ObjectsDep = NamedDependency[ObjectStore]
StorageDep = NamedDependency[ObjectStore]
StatsDep = NamedDependency[StatsCache]


def _from_state(key: str) -> Provide:
    """Hand handlers the object ``create_app`` keeps under ``key`` in the app's state."""

    def provide(state: State) -> Any:
        return state[key]

    return Provide(provide, sync_to_thread=False)


DEPENDENCIES = {
    "pool": _from_state("pool"),
    "secret_box": _from_state("secret_box"),
    "outbox": _from_state("outbox"),
    "settings": _from_state("settings"),
    # The store whose client signs download links (for the endpoint browsers reach).
    "objects": _from_state("link_signer"),
    # The store at the address the pipeline uses, for reading the bucket.
    "storage": _from_state("storage"),
    "stats": _from_state("stats"),
}
