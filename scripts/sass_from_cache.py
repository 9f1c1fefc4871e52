#!/usr/bin/env python3
"""SASS of a kernel from NVIDIA's Vulkan pipeline-cache blob (written by
`pipeline_stats --dump DIR`): the blob is a 100-byte header then a zstd frame; the
frame holds a header of 0x198 bytes (driver 580.159.04, H100/H200) and then the raw
sm_90 instructions, up to the `BRA` to itself that ends every kernel. Disassembled with
`nvdisasm -b SM90` (CUDA toolkits and the Triton wheel ship it).

usage: sass_from_cache.py NAME.cache.bin OUT.sass [NVDISASM]
"""
import subprocess, sys, tempfile

HEADER, CODE_AT = 100, 0x198
BRA_SELF = bytes.fromhex('4779fc00fcffffff')

def main(blob, out, nvdisasm='nvdisasm'):
    data = open(blob, 'rb').read()
    raw = subprocess.run(['zstd', '-d', '-c'], input=data[HEADER:], capture_output=True, check=True).stdout
    end = raw.find(BRA_SELF, CODE_AT)
    if end < 0:
        sys.exit(f'{blob}: no end of kernel found (a different driver layout?)')
    with tempfile.NamedTemporaryFile(suffix='.bin') as code:
        code.write(raw[CODE_AT:end + 16])
        code.flush()
        sass = subprocess.run([nvdisasm, '-b', 'SM90', code.name], capture_output=True, text=True)
    if sass.returncode != 0:
        sys.exit(f'nvdisasm failed: {sass.stderr[:500]}')
    open(out, 'w').write(sass.stdout)
    print(f'{out}: {(end + 16 - CODE_AT) // 16} instructions')

if __name__ == '__main__':
    main(*sys.argv[1:4])
