"""What handlers get injected by name: the objects the app keeps in its state."""

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from infra.broker import StagePublisher
from infra.crypto import SecretBox
from infra.postgres import Pool
from infra.storage import ObjectStore
from services.admin.dashboard.stats import StatsCache
from services.admin.settings import AdminSettings

PoolDep = NamedDependency[Pool]
SecretBoxDep = NamedDependency[SecretBox]
PublisherDep = NamedDependency[StagePublisher]
SettingsDep = NamedDependency[AdminSettings]
ObjectsDep = NamedDependency[ObjectStore]
StorageDep = NamedDependency[ObjectStore]
StatsDep = NamedDependency[StatsCache]


def _provide_pool(state: State) -> Pool:
    return state.pool


def _provide_secret_box(state: State) -> SecretBox:
    return state.secret_box


def _provide_publisher(state: State) -> StagePublisher:
    return state.publisher


def _provide_settings(state: State) -> AdminSettings:
    return state.settings


def _provide_objects(state: State) -> ObjectStore:
    """The store whose client signs download links (for the endpoint browsers reach)."""
    return state.link_signer


def _provide_storage(state: State) -> ObjectStore:
    """The store at the address the pipeline uses, for reading the bucket."""
    return state.storage


def _provide_stats(state: State) -> StatsCache:
    return state.stats


DEPENDENCIES = {
    "pool": Provide(_provide_pool, sync_to_thread=False),
    "secret_box": Provide(_provide_secret_box, sync_to_thread=False),
    "publisher": Provide(_provide_publisher, sync_to_thread=False),
    "settings": Provide(_provide_settings, sync_to_thread=False),
    "objects": Provide(_provide_objects, sync_to_thread=False),
    "storage": Provide(_provide_storage, sync_to_thread=False),
    "stats": Provide(_provide_stats, sync_to_thread=False),
}
