"""The fleet's etcd records as models: strict kinds, the field named in the error, and
unknown keys (a newer agent's) kept through a read and a write."""

from __future__ import annotations

import json

import pytest

from eunomia.errors import PackageError
from eunomia.fleet.model import Desired, NodeRecord, TaskStatus
from eunomia.session import SessionState


class Entry:
    """An etcd entry as the store hands it over."""

    def __init__(self, doc, revision: int = 7):
        self.value = json.dumps(doc).encode()
        self.mod_revision = revision

    def json(self):
        return json.loads(self.value)


def test_a_desired_entry_reads_back_with_its_revision_and_unknown_keys():
    written = Desired.of("exits", b"{}", ["--x"], {"zone": "a"}, "pkg.json", 1700000000)
    doc = json.loads(written.to_json())
    assert "version" not in doc            # the revision says it, not the entry
    doc["added_by_a_newer_fleet"] = {"k": 1}
    read = Desired.read(Entry(doc))
    assert (read.version, read.args, read.selector, read.content()) == \
        (7, ["--x"], {"zone": "a"}, b"{}")
    assert json.loads(read.to_json())["added_by_a_newer_fleet"] == {"k": 1}


@pytest.mark.parametrize("change, named", [
    ({"args": "--x"}, "args"),
    ({"selector": {"zone": 1}}, "selector.zone"),
    ({"name": None}, "name"),
])
def test_a_desired_entry_of_wrong_kinds_names_the_field(change, named):
    doc = json.loads(Desired.of("exits", b"{}", [], {}, "p", 1.5).to_json())
    with pytest.raises(PackageError, match=rf"the entry: {named}: "):
        Desired.read(Entry({**doc, **change}))
    doc.pop("package")
    with pytest.raises(PackageError, match="'package' is required"):
        Desired.read(Entry(doc))


def test_status_and_node_records_refuse_wrong_kinds_instead_of_coercing():
    status = TaskStatus(node="n", name="x", version=3, state=SessionState.RUNNING,
                        since=1.0)
    doc = json.loads(status.to_json())
    assert doc["state"] == "running"
    assert TaskStatus.from_json(doc) == status
    assert TaskStatus.from_json({**doc, "version": "3"}) is None
    assert TaskStatus.from_json({**doc, "state": "dancing"}) is None
    assert TaskStatus.from_json([1, 2]) is None
    node = {"node": "n", "labels": {}, "kernel": "6.1", "features": {"x": True},
            "started_at": 5}
    assert NodeRecord.from_json(node).started_at == 5.0
    assert NodeRecord.from_json({**node, "features": {"x": "yes"}}) is None
    assert NodeRecord.from_json({**node, "started_at": "5"}) is None
