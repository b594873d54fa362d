"""``/api/storage/audit``: does the bucket agree with the ``files`` table?"""

import dataclasses
from typing import Any

from litestar import get

from infra.storage_audit import audit
from services.admin.dependencies import PoolDep, StorageDep
from services.admin.errors import responses


@get("/api/storage/audit", tags=["storage"], responses=responses())
async def audit_storage(pool: PoolDep, storage: StorageDep) -> dict[str, Any]:
    """Objects the database does not know, and stored files whose object is missing or has
    the wrong size (samples of up to 100 each, with full counts). Walks the whole bucket:
    on a large one this takes a while (``python -m services audit-storage`` does the same)."""
    return dataclasses.asdict(await audit(pool, storage))
