#!/usr/bin/env python3
"""Writes crates/flashdb-core/data/redis-7.0-keyspecs.txt from a running Redis 7.0:
each command's key specifications and tips, as COMMAND INFO reports them.

    redis-server --port 6390 --daemonize yes && scripts/gen-keyspecs.py 6390

One line per command (subcommands as `container|sub`), tab-separated: the name, the
tips (comma-separated, `-` for none), then one field per key specification:
`flags|begin_search|find_keys|notes` with flags comma-separated, begin_search
`index:N`, `keyword:WORD:STARTFROM` or `unknown`, find_keys `range:LASTKEY:STEP:LIMIT`,
`keynum:KEYNUMIDX:FIRSTKEY:STEP` or `unknown`.
"""
import socket
import sys


def read(f):
    line = f.readline()
    t, body = line[:1], line[1:-2]
    if t in (b"+", b"-"):
        return body.decode()
    if t == b":":
        return int(body)
    if t == b"$":
        n = int(body)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    if t in (b"*", b"~", b">"):
        return [read(f) for _ in range(int(body))]
    if t == b"%":
        return {read(f): read(f) for _ in range(int(body))}
    if t == b"_":
        return None
    raise ValueError(line)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 6379
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    s.sendall(b"HELLO 3\r\n")
    read(f)
    s.sendall(b"COMMAND\r\n")
    out = {}

    def walk(c):
        out[c[0]] = (c[7], c[8])
        for sub in c[9]:
            walk(sub)

    for c in read(f):
        walk(c)
    lines = []
    for name in sorted(out):
        tips, specs = out[name]
        fields = [name, ",".join(tips) if tips else "-"]
        for sp in specs:
            bs = sp["begin_search"]
            if bs["type"] == "index":
                b = "index:%d" % bs["spec"]["index"]
            elif bs["type"] == "keyword":
                b = "keyword:%s:%d" % (bs["spec"]["keyword"], bs["spec"]["startfrom"])
            else:
                b = "unknown"
            fk = sp["find_keys"]
            if fk["type"] == "range":
                k = "range:%d:%d:%d" % (fk["spec"]["lastkey"], fk["spec"]["keystep"], fk["spec"]["limit"])
            elif fk["type"] == "keynum":
                k = "keynum:%d:%d:%d" % (fk["spec"]["keynumidx"], fk["spec"]["firstkey"], fk["spec"]["keystep"])
            else:
                k = "unknown"
            fields.append("|".join([",".join(sp["flags"]), b, k, sp.get("notes", "")]))
        lines.append("\t".join(fields))
    path = "crates/flashdb-core/data/redis-7.0-keyspecs.txt"
    with open(path, "w") as w:
        w.write("\n".join(lines) + "\n")
    print("%d commands written to %s" % (len(lines), path))


main()
