#!/usr/bin/env python3
"""SASS of a kernel from NVIDIA's Vulkan pipeline-cache blob (written by
`pipeline_stats --dump DIR`): the blob is a 100-byte header then a zstd frame; the
frame holds a header (0x198 bytes for most kernels seen with driver 580.159.04 on
H100/H200, longer for some) and then the raw sm_90 instructions, up to the `BRA` to
itself that ends every kernel. The code start is the first offset from which 256 bytes
disassemble cleanly. Needs `zstd` and `nvdisasm` (CUDA toolkits and the Triton wheel
ship it); the lent GPU machines have nvdisasm but no zstd, so run it where the blobs
come back.

usage: sass_from_cache.py NAME.cache.bin OUT.sass [NVDISASM]
"""
import subprocess, sys, tempfile

HEADER = 100
BRA_SELF = bytes.fromhex('4779fc00fcffffff')

def disassemble(nvdisasm, code):
    with tempfile.NamedTemporaryFile(suffix='.bin') as f:
        f.write(code)
        f.flush()
        return subprocess.run([nvdisasm, '-b', 'SM90', f.name], capture_output=True, text=True)

def code_start(nvdisasm, raw):
    for at in [0x198] + list(range(0x100, 0x800, 8)):
        r = disassemble(nvdisasm, raw[at:at + 256])
        if r.returncode == 0 and 'error' not in r.stderr:
            return at
    sys.exit('no code start found (a different driver layout?)')

def main(blob, out, nvdisasm='nvdisasm'):
    data = open(blob, 'rb').read()
    raw = subprocess.run(['zstd', '-d', '-c'], input=data[HEADER:], capture_output=True, check=True).stdout
    at = code_start(nvdisasm, raw)
    end = raw.find(BRA_SELF, at)
    if end < 0:
        sys.exit(f'{blob}: no end of kernel found (a different driver layout?)')
    sass = disassemble(nvdisasm, raw[at:end + 16])
    if sass.returncode != 0:
        sys.exit(f'nvdisasm failed: {sass.stderr[:500]}')
    open(out, 'w').write(sass.stdout)
    print(f'{out}: {(end + 16 - at) // 16} instructions from offset {at:#x}')

if __name__ == '__main__':
    main(*sys.argv[1:4])
