"""The audit types: each feature declares the kinds it records (its audit.py), bootstrap
assembles them, and the admin audit view filters by what was assembled."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import conduit
from conduit.admin.router import audit_router
from conduit.bootstrap import AUDIT_TYPES
from conduit.core import audit
from conduit.core.audit import AuditType


def held_audit_types() -> dict[str, set[str]]:
    """Every AuditType a module of Conduit holds, with the modules that hold it.

    A feature can only record what it holds (``audit.record`` takes an AuditType, and
    refuses a plain string), so this is everything any feature may record.
    """
    held: dict[str, set[str]] = {}
    for module in pkgutil.walk_packages(conduit.__path__, prefix="conduit."):
        if module.name.startswith("conduit.migrations.") or module.name.endswith(".__main__"):
            continue
        for value in vars(importlib.import_module(module.name)).values():
            if isinstance(value, AuditType):
                held.setdefault(str(value), set()).add(module.name)
    return held


def test_every_audit_type_a_feature_records_is_in_the_assembled_set() -> None:
    held = held_audit_types()
    assert len(held) >= 10
    missing = {kind: modules for kind, modules in held.items() if kind not in AUDIT_TYPES}
    assert not missing, (
        "add these to their feature's audit.py TYPES, and the feature's TYPES to "
        f"bootstrap.AUDIT_TYPES: {missing}"
    )
    elsewhere = {
        kind: modules
        for kind, modules in held.items()
        if not any(name.endswith(".audit") for name in modules)
    }
    assert not elsewhere, f"declare these in their feature's audit.py: {elsewhere}"
    assert set(AUDIT_TYPES) == set(held)


def test_the_admin_audit_view_filters_by_the_assembled_set() -> None:
    (route,) = audit_router(AUDIT_TYPES).routes
    (param,) = [p for p in route.dependant.query_params if p.name == "type"]  # type: ignore[attr-defined]
    assert param.field_info.json_schema_extra == {"enum": list(AUDIT_TYPES)}


def test_an_audit_type_is_declared_once() -> None:
    one = AuditType("thing.done")
    assert audit.catalogue((one,), (AuditType("other.thing"),)) == ("thing.done", "other.thing")
    assert all(type(kind) is str for kind in audit.catalogue((one,)))
    with pytest.raises(ValueError, match=r"thing\.done"):
        audit.catalogue((one,), (AuditType("thing.done"),))


async def test_only_declared_types_are_recorded() -> None:
    with pytest.raises(ValueError, match="not declared"):
        await audit.record(None, "login.succeeded", actor_id=1)  # type: ignore[arg-type]
