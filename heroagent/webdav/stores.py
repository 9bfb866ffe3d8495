"""The share's dead properties and locks, kept in memory and bounded: a client cannot grow them without end.

wsgidav keeps both in plain dictionaries that any client allowed to write can fill (PROPPATCH sets any
number of properties of any size, LOCK makes locks until memory runs out). These stores refuse past
their bounds with 507 Insufficient Storage, naming the bound, and keep what is there.
"""

from __future__ import annotations

from typing import Any

from wsgidav.dav_error import HTTP_INSUFFICIENT_STORAGE, DAVError
from wsgidav.lock_man.lock_storage import LockStorageDict
from wsgidav.prop_man.property_manager import PropertyManager
from wsgidav.xml_tools import xml_to_bytes

MAX_PROPERTIES = 10_000  # dead properties over the whole share
MAX_PROPERTY_BYTES = 64 * 1024  # one property's value, as XML
MAX_LOCKS = 10_000  # locks held at once over the whole share


class BoundedPropertyManager(PropertyManager):  # type: ignore[misc]
    def write_property(
        self, norm_url: str, name: str, property_value: Any, dry_run: bool = False, environ: Any = None
    ) -> None:
        raw = property_value if isinstance(property_value, bytes | str) else xml_to_bytes(property_value, pretty=False)
        size = len(raw)
        if size > MAX_PROPERTY_BYTES:
            raise DAVError(
                HTTP_INSUFFICIENT_STORAGE, f"a property's value is {size} bytes; the share keeps {MAX_PROPERTY_BYTES}"
            )
        if not self._loaded:
            self._lazy_open()
        known = self._dict.get(norm_url, {})
        if name not in known and sum(len(props) for props in self._dict.values()) >= MAX_PROPERTIES:
            raise DAVError(HTTP_INSUFFICIENT_STORAGE, f"the share keeps at most {MAX_PROPERTIES} properties")
        super().write_property(norm_url, name, property_value, dry_run=dry_run, environ=environ)


class BoundedLockStorage(LockStorageDict):  # type: ignore[misc]
    def create(self, path: str, lock: dict[str, Any]) -> Any:
        held = sum(1 for key in self._dict if str(key).startswith("opaquelocktoken:")) if self._dict else 0
        if held >= MAX_LOCKS:
            self.cleanup()  # expired ones do not count
            held = sum(1 for key in self._dict if str(key).startswith("opaquelocktoken:"))
            if held >= MAX_LOCKS:
                raise DAVError(HTTP_INSUFFICIENT_STORAGE, f"the share holds at most {MAX_LOCKS} locks at once")
        return super().create(path, lock)
