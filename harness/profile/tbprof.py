#!/usr/bin/env python3
"""Instructions per call by kernel function, from two tbprof.c outputs.

    tbprof.py SYSTEM.MAP RUN.out BASE.out FUNCTION [TOP]

RUN is a boot that ran the measured case, BASE the same boot without it;
the difference is divided by how often FUNCTION's first block ran more in
RUN (the calls). Boot the kernel with nokaslr (KARGS=nokaslr) so that its
addresses are System.map's. Prints the functions by instructions per call,
then by entries per call.
"""
import bisect
import sys


def symbols(path):
    syms = []
    for line in open(path):
        addr, kind, name = line.split()[:3]
        if kind in "tTwW":
            syms.append((int(addr, 16), name))
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms]


def load(path, addrs, names):
    insns, entries = {}, {}
    for line in open(path):
        addr, n, count = line.split()
        addr, n, count = int(addr, 16), int(n), int(count)
        if addr < 0xffff000000000000:
            func = "<user space>"
        else:
            i = bisect.bisect_right(addrs, addr) - 1
            func = names[i]
            if addrs[i] == addr:
                entries[func] = entries.get(func, 0) + count
        insns[func] = insns.get(func, 0) + n * count
    return insns, entries


def main():
    smap, run, base, per = sys.argv[1:5]
    top = int(sys.argv[5]) if len(sys.argv) > 5 else 40
    addrs, names = symbols(smap)
    r_ins, r_ent = load(run, addrs, names)
    b_ins, b_ent = load(base, addrs, names)
    calls = r_ent.get(per, 0) - b_ent.get(per, 0)
    if calls <= 0:
        sys.exit(f"{per} ran no more often in {run} than in {base}")
    ins = {f: r_ins.get(f, 0) - b_ins.get(f, 0) for f in set(r_ins) | set(b_ins)}
    ent = {f: r_ent.get(f, 0) - b_ent.get(f, 0) for f in set(r_ent) | set(b_ent)}
    print(f"{calls} calls of {per}: {sum(ins.values()) / calls:.0f} instructions each")
    print("--- instructions per call")
    for f, v in sorted(ins.items(), key=lambda x: -x[1])[:top]:
        print(f"{v / calls:10.1f} {f}")
    print("--- entries per call")
    for f, v in sorted(ent.items(), key=lambda x: -x[1])[:top]:
        print(f"{v / calls:10.2f} {f}")


if __name__ == "__main__":
    main()
