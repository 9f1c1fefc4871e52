#!/usr/bin/env python3
"""Loops of a SASS listing (scripts/sass_from_cache.py) with their instruction mix: one
line per backward branch (loop), those with the most tensor-core work and then the
largest first (the hot loop is usually the first line; it also holds rarely taken
blocks such as the matrix kernel's O rescale, so read the listing to split them).

usage: sass_loops.py FILE.sass [TOP]
"""
import collections, re, signal, sys

signal.signal(signal.SIGPIPE, signal.SIG_DFL)

def main(path, top=12):
    ins = []
    for line in open(path):
        m = re.search(r'/\*([0-9a-f]+)\*/\s+(.*?)\s*;', line)
        if m:
            ins.append((int(m.group(1), 16), m.group(2)))
    loops = []
    for addr, text in ins:
        m = re.match(r'(@!?U?P\w+ )?BRA (0x[0-9a-f]+)', text)
        if m and int(m.group(2), 16) < addr:
            lo = int(m.group(2), 16)
            body = [t for a, t in ins if lo <= a <= addr]
            ops = collections.Counter(re.sub(r'^@!?U?P\w+ ', '', t).split()[0] for t in body)
            loops.append((ops['HMMA.16816.F32'], lo, addr, len(body), ops))
    loops.sort(key=lambda x: (-x[0], -x[3]))
    for hmma, lo, hi, n, ops in loops:
        mix = ', '.join(f'{k} {v}' for k, v in ops.most_common(int(top)))
        print(f'{lo:#06x}-{hi:#06x}: {n} instructions, HMMA {hmma}: {mix}')

if __name__ == '__main__':
    main(*sys.argv[1:3])
