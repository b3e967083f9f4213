"""redis-py's Sentinel client against a FlashDB group, driven by tests/sentinel.rs.

Arguments: the nodes' client ports. Finds the master through the nodes (as Sentinels),
writes through it, prints "master PORT", then waits for a line on standard input (the
test killed that master), writes again through the same client until the write goes
through (the client follows the failover), and prints "master PORT" of the new one.
"""

import sys
import time

from redis.sentinel import Sentinel

ports = [int(p) for p in sys.argv[1:]]
sentinel = Sentinel([("127.0.0.1", p) for p in ports], socket_timeout=2)
host, port = sentinel.discover_master("mymaster")
assert host == "127.0.0.1", host
replicas = sentinel.discover_slaves("mymaster")
assert len(replicas) == len(ports) - 1, replicas
assert all(r[1] != port for r in replicas), (port, replicas)
master = sentinel.master_for("mymaster", socket_timeout=2)
master.set("from-python", "1")
assert master.get("from-python") == b"1"
print("master", port, flush=True)

sys.stdin.readline()
deadline = time.time() + 30
while True:
    try:
        master.set("after-failover", "yes")
        break
    except Exception:  # the old master is gone: the client asks the Sentinels again
        if time.time() > deadline:
            raise
        time.sleep(0.1)
assert master.get("after-failover") == b"yes"
assert master.get("from-python") == b"1"
new_host, new_port = sentinel.discover_master("mymaster")
assert new_port != port, (port, new_port)
print("master", new_port, flush=True)
