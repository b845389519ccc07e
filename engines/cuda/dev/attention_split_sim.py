# Block-level transcription of the split-K decode kernels attention_decode_split_f32 +
# attention_decode_combine_f32 (engines/cuda/attention.cu): per (kv head, row, split) block the
# chunked online softmax over the split, the partial (m, l, acc) layout, and the combine, against a
# NumPy reference; rows listed through row_index, empty contexts, NaN past the contexts.
# Run: python3 attention_split_sim.py (seconds). Keep it in step with the kernels.
import numpy as np, math
NT=128; CH=64; G8=8
def run(H,Hkv,D,ctxs,split_len,max_len,seed=0,row_index=None):
    rng=np.random.default_rng(seed); kv_dim=Hkv*D; ss=max_len*kv_dim; n_rows_all=len(ctxs)
    k=np.full(n_rows_all*ss,np.nan,np.float32); v=k.copy()
    for r,n in enumerate(ctxs):
        k[r*ss:r*ss+n*kv_dim]=rng.uniform(-1,1,n*kv_dim); v[r*ss:r*ss+n*kv_dim]=rng.uniform(-1,1,n*kv_dim)
    q=rng.uniform(-2,2,n_rows_all*H*D).astype(np.float32); scale=1/math.sqrt(D)
    rows=list(range(n_rows_all)) if row_index is None else row_index
    max_splits=(max_len+split_len-1)//split_len
    part=np.full(len(rows)*H*max_splits*(D+2),np.nan,np.float32)
    out=np.full(n_rows_all*H*D,7.0,np.float32)
    group=H//Hkv
    for kvh in range(Hkv):
      for by,r in enumerate(rows):
        for split in range(max_splits):
            n=ctxs[r]; jb=split*split_len; je=min(n,jb+split_len)
            if split>0 and jb>=je: continue
            kb=r*ss+kvh*D; h0=kvh*group
            qs=q[(r*H+h0)*D:(r*H+h0+group)*D].reshape(group,D)
            m=np.full(group,-np.inf); l=np.zeros(group); acc=np.zeros((group,D))
            c0=jb
            while c0<je:
                cn=min(CH,je-c0)
                K=np.array([k[kb+(c0+j)*kv_dim:kb+(c0+j)*kv_dim+D] for j in range(cn)])
                V=np.array([v[kb+(c0+j)*kv_dim:kb+(c0+j)*kv_dim+D] for j in range(cn)])
                p=(qs@K.T)*scale  # group x cn
                new_m=np.maximum(m,p.max(axis=1)); corr=np.exp(m-new_m); m=new_m
                p=np.exp(p-m[:,None]); l=l*corr+p.sum(axis=1); acc=acc*corr[:,None]+p@V
                c0+=CH
            for h in range(group):
                off=((by*H+h0+h)*max_splits+split)*(D+2)
                part[off]=m[h]; part[off+1]=l[h]; part[off+2:off+2+D]=acc[h]
    for h in range(H):
        for by,r in enumerate(rows):
            n=ctxs[r]; nsp=max(1,min(max_splits,(n+split_len-1)//split_len))
            base=(by*H+h)*max_splits*(D+2)
            ms=[part[base+s*(D+2)] for s in range(nsp)]; M=max(ms)
            L=sum(0 if mm==-np.inf else part[base+s*(D+2)+1]*math.exp(mm-M) for s,mm in enumerate(ms))
            a=np.zeros(D)
            for s,mm in enumerate(ms):
                if mm!=-np.inf: a+=part[base+s*(D+2)+2:base+s*(D+2)+2+D]*math.exp(mm-M)
            out[(r*H+h)*D:(r*H+h+1)*D]= a/L if L>0 else 0
    ref=np.full_like(out,7.0)
    for r in rows:
        for h in range(H):
            n=ctxs[r]; off=r*ss+(h//group)*D
            if n==0: ref[(r*H+h)*D:(r*H+h+1)*D]=0; continue
            K=np.array([k[off+j*kv_dim:off+j*kv_dim+D] for j in range(n)]); V=np.array([v[off+j*kv_dim:off+j*kv_dim+D] for j in range(n)])
            sc=K@q[(r*H+h)*D:(r*H+h+1)*D]*scale; p=np.exp(sc-sc.max()); p/=p.sum(); ref[(r*H+h)*D:(r*H+h+1)*D]=p@V
    print(H,Hkv,D,ctxs,split_len,"rows",rows,"maxerr",np.abs(out-ref).max(),"nan",np.isnan(out).sum())
run(4,2,16,[1,63,64,65,300,0],64,320)
run(6,1,40,[5,257,512],256,600,row_index=[2,0])
run(8,1,8,[1000],256,1024)
