# Sequential transcription of the tiled prefill kernel attention_prefill_f32 (engines/cuda/attention.cu)
# to check its index arithmetic without a GPU: every phase between __syncthreads runs for all 128
# threads in turn with the kernel's thread -> (row, key, dim) mapping and shared-memory layout;
# shuffles are reductions over the 16-lane groups. Cache positions no row may read hold NaN.
# Compares with a NumPy softmax(q K^T * scale) V per row; prints the max abs error (~1e-7 expected).
# Keep it in step with the kernel when the kernel changes.  Run: python3 attention_sim.py (~1 min)
import numpy as np, math
R=32; NT=128
def shape(D):
    if D<=64: return 2,64
    if D<=128: return 4,64
    return 8,32
def kernel(blockx, blocky, q, k, v, slot_stride, row_slot, row_n_ctx, tile_first, tile_count, H, Hkv, D, hpb, scale, out):
    DPL,BK=shape(D); KPT=BK//16; QS=D+1; PS=BK+1
    q_s=np.full(R*QS,np.nan,np.float32); kv_s=np.full(D*PS,np.nan,np.float32); p_s=np.full(R*PS,np.nan,np.float32)
    corr_s=np.full(R,np.nan,np.float32); l_s=np.full(R,np.nan,np.float32); ctx_s=np.zeros(R,int)
    group=H//Hkv; n_chunks=(group+hpb-1)//hpb; kvh=blocky//n_chunks; chunk=blocky%n_chunks
    h0=kvh*group+chunk*hpb; nh=min(hpb,group-chunk*hpb)
    t0=tile_first[blockx]; nt=tile_count[blockx]; kv_stride=Hkv*D; slot=row_slot[t0]
    kb=slot*slot_stride+kvh*D
    for r in range(R):
        tl,hl=r//hpb,r%hpb
        ctx_s[r]=row_n_ctx[t0+tl] if (tl<nt and hl<nh) else 0
    for idx in range(R*D):
        r,d=idx//D,idx%D; tl,hl=r//hpb,r%hpb
        q_s[r*QS+d]=q[((t0+tl)*H+h0+hl)*D+d] if (tl<nt and hl<nh) else 0
    n_max=ctx_s.max()
    m_r=np.full((NT,4),-np.inf,np.float32); l_r=np.zeros((NT,4),np.float32)
    acc=np.zeros((NT,8,DPL),np.float32)
    j0=0
    while j0<n_max:
        nk=min(BK,n_max-j0)
        for idx in range(BK*D):
            j,d=idx//D,idx%D
            kv_s[d*PS+j]=k[kb+(j0+j)*kv_stride+d] if j<nk else 0
        s=np.zeros((NT,4,KPT),np.float32)
        for tid in range(NT):
            kg,rg=tid&15,tid>>4
            for i in range(4):
                for j in range(KPT):
                    s[tid,i,j]=np.dot(q_s[(rg+8*i)*QS+np.arange(D)], kv_s[np.arange(D)*PS+kg+16*j])
        # softmax: per row group shuffles
        for i in range(4):
            corr_t=np.zeros(NT,np.float32)
            tmax=np.full(NT,-np.inf,np.float32)
            for tid in range(NT):
                kg,rg=tid&15,tid>>4; r=rg+8*i; ctx=ctx_s[r]
                for j in range(KPT):
                    s[tid,i,j]= s[tid,i,j]*scale if j0+kg+16*j<ctx else -np.inf
                    tmax[tid]=max(tmax[tid],s[tid,i,j])
            # xor reduce within 16-lane halves
            red=tmax.reshape(-1,16).max(axis=1).repeat(16)
            psum=np.zeros(NT,np.float32)
            for tid in range(NT):
                kg,rg=tid&15,tid>>4; r=rg+8*i
                m_new=max(m_r[tid,i],red[tid]); m_use=0.0 if m_new==-np.inf else m_new
                corr=math.exp(m_r[tid,i]-m_use)
                for j in range(KPT):
                    p=math.exp(s[tid,i,j]-m_use) if s[tid,i,j]!=-np.inf else 0.0
                    p_s[r*PS+kg+16*j]=p; psum[tid]+=p
                if kg==0: corr_s[r]=corr
                corr_t[tid]=corr
                m_r[tid,i]=m_new
            psr=psum.reshape(-1,16).sum(axis=1).repeat(16)  # 16-lane shuffle sum
            for tid in range(NT):
                l_r[tid,i]=l_r[tid,i]*corr_t[tid]+psr[tid]
        for idx in range(BK*D):
            j,d=idx//D,idx%D
            kv_s[j*D+d]=v[kb+(j0+j)*kv_stride+d] if j<nk else 0
        for tid in range(NT):
            lane,warp=tid&31,tid>>5
            for i in range(8):
                acc[tid,i,:]*=corr_s[warp+4*i]
            for j in range(nk):
                vv=np.array([kv_s[j*D+lane+32*c] if lane+32*c<D else 0 for c in range(DPL)],np.float32)
                for i in range(8):
                    acc[tid,i,:]+=p_s[(warp+4*i)*PS+j]*vv
        j0+=BK
    for tid in range(NT):
        kg,rg=tid&15,tid>>4
        if kg==0:
            for i in range(4): l_s[rg+8*i]=l_r[tid,i]
    for tid in range(NT):
        lane,warp=tid&31,tid>>5
        for i in range(8):
            r=warp+4*i; tl,hl=r//hpb,r%hpb
            if tl>=nt or hl>=nh: continue
            l=l_s[r]
            for c in range(DPL):
                d=lane+32*c
                if d<D: out[((t0+tl)*H+h0+hl)*D+d]= acc[tid,i,c]/l if l>0 else 0
def run(H,Hkv,D,slots,prior,n_new,seed=0):
    rng=np.random.default_rng(seed)
    n_slots=max(slots)+1; max_len=max(p+n for p,n in zip(prior,n_new))+3; kv_dim=Hkv*D; ss=max_len*kv_dim
    k=np.full(n_slots*ss,np.nan,np.float32); v=k.copy()
    row_slot=[];row_ctx=[]
    for sl,p,n in zip(slots,prior,n_new):
        k[sl*ss:sl*ss+(p+n)*kv_dim]=rng.uniform(-1,1,(p+n)*kv_dim)
        v[sl*ss:sl*ss+(p+n)*kv_dim]=rng.uniform(-1,1,(p+n)*kv_dim)
        for i in range(n): row_slot.append(sl); row_ctx.append(p+i+1)
    T=len(row_slot); q=rng.uniform(-2,2,T*H*D).astype(np.float32); scale=1/math.sqrt(D)
    hpb=min(H//Hkv,32); tr=32//hpb
    tf=[];tc=[];t0=0
    for n in n_new:
        for i in range(0,n,tr): tf.append(t0+i); tc.append(min(tr,n-i))
        t0+=n
    out=np.full(T*H*D,np.nan,np.float32)
    n_chunks=(H//Hkv+hpb-1)//hpb
    for bx in range(len(tf)):
        for by in range(Hkv*n_chunks):
            kernel(bx,by,q,k,v,ss,row_slot,row_ctx,tf,tc,H,Hkv,D,hpb,scale,out)
    # reference
    ref=np.zeros_like(out); g=H//Hkv
    for t in range(T):
        for h in range(H):
            off=row_slot[t]*ss+(h//g)*D
            n=row_ctx[t]
            K=np.array([k[off+j*kv_dim:off+j*kv_dim+D] for j in range(n)]); V=np.array([v[off+j*kv_dim:off+j*kv_dim+D] for j in range(n)])
            sc=K@q[(t*H+h)*D:(t*H+h+1)*D]*scale; p=np.exp(sc-sc.max()); p/=p.sum()
            ref[(t*H+h)*D:(t*H+h+1)*D]=p@V
    err=np.abs(out-ref).max(); print(H,Hkv,D,slots,prior,n_new,"T",T,"tiles",len(tf),"maxerr",err,"nan",np.isnan(out).sum())
import sys
run(4,2,16,[1,0],[0,3],[5,66])
run(6,1,40,[0,2,1],[0,70,0],[1,9,7])
run(3,3,8,[0],[0],[40])
run(40,1,8,[0,1],[0,2],[2,1])
run(4,1,160,[1,0],[5,0],[3,34])
