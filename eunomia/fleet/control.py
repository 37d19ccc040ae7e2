"""What `ecli fleet` does: write the desired state, and read back nodes and status."""

from __future__ import annotations

import math
import time

from ..errors import ArgumentError, EunomiaError
from ..kinds import SessionState
from ..valueclass import valueclass
from .model import Desired, Keys, NodeRecord, TaskStatus, check_name, matches
from .store import Store

WAIT_POLL_S = 0.02


class FleetTimeout(EunomiaError):
    """`--wait` ran out of time; the message names the nodes that did not report."""


@valueclass
class Applied:
    desired: Desired
    changed: bool           # False when the same package, flags and selector were there


class Fleet:
    def __init__(self, store: Store, keys: Keys):
        self.store, self.keys = store, keys

    # -- desired state ----------------------------------------------------------------

    def apply(self, name: str, content: bytes, args: list[str], selector: dict[str, str],
              source: str, signature: str = "", image: dict | None = None) -> Applied:
        """Writes NAME's desired entry (a new version unless nothing changed); with the
        package's `signature` for agents that run only signed code."""
        check_name(name, "--name")
        wanted = Desired.of(name, content, args, selector, source, time.time(), signature,
                            image)
        key = self.keys.desired(name)
        for _attempt in range(10):          # another apply may come between read and write
            existing_entry = self.store.get(key)
            existing = Desired.from_entry(existing_entry) if existing_entry else None
            if existing is not None and existing.same_spec(wanted):
                return Applied(existing, False)
            revision = self.store.put_if(key, wanted.to_json(),
                                         existing_entry.mod_revision if existing_entry else 0)
            if revision is not None:
                wanted.version = revision
                return Applied(wanted, True)
        raise EunomiaError(f"{name}: other applies kept changing it; try again")

    def remove(self, name: str) -> Desired:
        entry = self.store.get(self.keys.desired(name))
        desired = Desired.from_entry(entry) if entry else None
        if desired is None:
            raise ArgumentError(f"no package named {name!r} in the fleet "
                                f"({self.keys.prefix})")
        self.store.delete(self.keys.desired(name))
        return desired

    def desired(self) -> list[Desired]:
        entries, _ = self.store.range(self.keys.desired_prefix)
        return sorted((d for d in map(Desired.from_entry, entries) if d), key=lambda d: d.name)

    # -- what runs --------------------------------------------------------------------

    def nodes(self) -> list[NodeRecord]:
        entries, _ = self.store.range(self.keys.nodes_prefix)
        return sorted((n for n in (NodeRecord.from_json(e.json()) for e in entries) if n),
                      key=lambda n: n.node)

    def status(self, name: str | None = None) -> list[TaskStatus]:
        entries, _ = self.store.range(self.keys.status_prefix)
        out = [s for s in (TaskStatus.from_json(e.json()) for e in entries) if s]
        if name is not None:
            out = [s for s in out if s.name == name]
        return sorted(out, key=lambda s: (s.name, s.node))

    def selected_nodes(self, selector: dict[str, str]) -> list[str]:
        return [n.node for n in self.nodes() if matches(selector, n.labels)]

    def wait_running(self, desired: Desired, timeout: float) -> list[TaskStatus]:
        """Returns once every node the selector picks runs `desired`'s version; raises
        FleetTimeout naming the others (and their errors) after `timeout` s."""
        deadline = time.monotonic() + _finite(timeout)
        while True:
            selected = self.selected_nodes(desired.selector)
            statuses = {s.node: s for s in self.status(desired.name)}
            done = [statuses[n] for n in selected if n in statuses and
                    statuses[n].version >= desired.version and statuses[n].state is SessionState.RUNNING]
            failed = [statuses[n] for n in selected if n in statuses and
                      statuses[n].version >= desired.version and statuses[n].state is SessionState.FAILED]
            if selected and len(done) == len(selected):
                return done
            if time.monotonic() >= deadline or (failed and len(done) + len(failed) ==
                                                len(selected)):
                missing = [n for n in selected if n not in {s.node for s in done}]
                reasons = [f"{s.node}: {s.error}" for s in failed if s.error]
                if not selected:
                    raise FleetTimeout(f"no node matches the selector "
                                       f"{_show_selector(desired.selector)}")
                raise FleetTimeout(
                    f"{desired.name} version {desired.version} is not running on "
                    f"{', '.join(missing)} after {timeout:g} s" +
                    (f" ({'; '.join(reasons)})" if reasons else ""))
            time.sleep(WAIT_POLL_S)

    def wait_removed(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + _finite(timeout)
        while self.status(name):
            if time.monotonic() >= deadline:
                left = ", ".join(s.node for s in self.status(name))
                raise FleetTimeout(f"{name} still runs on {left} after {timeout:g} s")
            time.sleep(WAIT_POLL_S)


def _finite(timeout: float) -> float:
    if not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout < 0:
        raise ArgumentError(f"a wait of {timeout!r} s: expected a number of seconds >= 0")
    return timeout


def _show_selector(selector: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in selector.items()) or "(none)"
