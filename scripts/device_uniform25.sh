#!/bin/bash
# Twenty-fifth session: per-call host time with and without shared uniform parameter
# buffers (GpuContext::uniform). .gpu/ringattn-ab is commit d02a584 built with the cache
# lookup skipped while NOCACHE_AB is set (`.filter(|_| std::env::var_os("NOCACHE_AB").is_none())`
# on the lookup; not in the repository). Every tier (the bench default: matrix,
# subgroup, portable), f16/f32, N=256/1024/4096, head_dims 64/128, causal both, 40 reps,
# two rounds; prints GPU, wall (submit + wait) and call (encode + submit + wait) medians.
source scripts/device_run.sh; results; export RINGATTN_TUNE=0
S="bench --no-progress --reps 40 --max-seconds 3 --seqs 256,1024,4096 --head-dims 64,128 --dtypes f16,f32 --causal both"
for round in 1 2; do
  timeout 120 .gpu/ringattn-ab $S --json $R/cache-$round.json > $R/cache-$round.md 2>&1
  NOCACHE_AB=1 timeout 120 .gpu/ringattn-ab $S --json $R/nocache-$round.json > $R/nocache-$round.md 2>&1
done
python3 - <<'PY'
import json,os,statistics as st
R=os.environ['OUT']+'/r'
def load(n):
    d=json.load(open(f'{R}/{n}.json')); return {(r['tier'],r['dtype'],r['seq'],r['head_dim'],r['causal']):r for r in (d['results'] if isinstance(d,dict) else d)}
for rd in (1,2):
    a,b=load(f'nocache-{rd}'),load(f'cache-{rd}')
    ov_a=[];ov_b=[]
    for k in a:
        if k not in b or a[k].get('call_ms_median') is None or b[k].get('call_ms_median') is None: continue
        x,y=a[k],b[k]
        print(rd,*k,'gpu %.4f/%.4f wall %.4f/%.4f call %.4f/%.4f'%(x['gpu_ms_median'],y['gpu_ms_median'],x['wall_ms_median'],y['wall_ms_median'],x['call_ms_median'],y['call_ms_median']))
        ov_a.append(x['call_ms_median']-x['gpu_ms_median']); ov_b.append(y['call_ms_median']-y['gpu_ms_median'])
    print('round',rd,'median call-gpu overhead: nocache %.4f cache %.4f (n=%d), lower in %d'%(st.median(ov_a),st.median(ov_b),len(ov_a),sum(1 for p,q in zip(ov_a,ov_b) if q<p)))
PY
cd $OUT && tar czf r.tgz r
