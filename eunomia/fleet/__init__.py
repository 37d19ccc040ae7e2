"""A fleet of `ecli server` agents that converge to a desired state kept in etcd.

    ecli server --fleet http://etcd:2379 --node web-1 --label zone=a     # on each node
    ecli fleet apply exitsnoop.json --name exits --selector zone=a --wait # from anywhere

    store.Store / StoreOptions     etcd over its HTTP gateway (etcd3gw), with failover
    model.Keys, Desired, ...       the keys and records (docs/fleet.md)
    agent.FleetAgent               what `ecli server --fleet` runs
    control.Fleet                  what `ecli fleet` does

The submodules are imported where used: `ecli run` should not pay for the agent.
"""

DEFAULT_PREFIX = "/eunomia/fleet/default"      # two fleets share one etcd with two prefixes
