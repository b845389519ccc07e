#!/usr/bin/env python3
# Independent reference (not our C++) for the literal expected numbers in test_metrics.cpp:
# SplitMix64, Lemire bounded integers, type-7 quantiles, exact McNemar and pass@k with fractions.
# Run: python3 tests/metrics/metrics_ref.py
import math
from fractions import Fraction
M=2**64
class Rng:
    def __init__(s,seed): s.state=seed%M
    def next(s):
        s.state=(s.state+0x9e3779b97f4a7c15)%M
        z=s.state
        z=((z^(z>>30))*0xbf58476d1ce4e5b9)%M
        z=((z^(z>>27))*0x94d049bb133111eb)%M
        return z^(z>>31)
    def below(s,n):
        m=s.next()*n; low=m%M
        if low<n:
            t=(M-n)%n
            while low<t:
                m=s.next()*n; low=m%M
        return m>>64
def q7(xs,q):
    h=(len(xs)-1)*q; lo=math.floor(h)
    if lo+1>=len(xs): return xs[-1]
    return xs[lo]+(h-lo)*(xs[lo+1]-xs[lo])
def boot(vals,B=2000,conf=0.95,seed=0x5eed2025):
    r=Rng(seed); n=len(vals); ms=[]
    for b in range(B):
        s=0.0
        for i in range(n): s+=vals[r.below(n)]
        ms.append(s/n)
    ms.sort()
    return sum(vals)/n, q7(ms,(1-conf)/2), q7(ms,(1+conf)/2)
def pboot(a,b,B=2000,conf=0.95,seed=0x5eed2025):
    d=[x-y for x,y in zip(a,b)]; r=Rng(seed); n=len(d); ms=[]; le=ge=0
    for k in range(B):
        s=0.0
        for i in range(n): s+=d[r.below(n)]
        m=s/n; ms.append(m); le+= m<=0; ge+= m>=0
    ms.sort()
    return sum(d)/n, q7(ms,(1-conf)/2), q7(ms,(1+conf)/2), min(1.0,2*min(le,ge)/B)
r=Rng(0); print([hex(r.next()) for _ in range(3)])
r=Rng(0x5eed2025); print([r.below(10) for _ in range(10)])
print("boot", repr(boot([0,0,1,1,1])))
print("boot1000", repr(boot([0,0.5,1,1,0.25,0.75],B=1000,conf=0.9,seed=42)))
a=[1,1,1,0,1,1,0,1,1,1]; b=[1,0,0,0,1,0,0,1,0,1]
print("pboot", repr(pboot(a,b)))
print("pass", repr(1-Fraction(math.comb(500,10),math.comb(1000,10))), float(1-Fraction(math.comb(500,10),math.comb(1000,10))))
def mcn(b,c):
    n=b+c; m=min(b,c)
    t=Fraction(sum(math.comb(n,i) for i in range(m+1)),2**n)
    return float(min(1,2*t))
print("mcn", repr(mcn(100,150)), repr(mcn(1,5)), repr(mcn(0,10)), repr(mcn(2000,2100)))
print("bootc", repr(boot([0.1,0.37,0.52,0.9,0.05,0.77,0.61],B=999,conf=0.95,seed=7)))
print("pbootc", repr(pboot([0.1,0.37,0.52,0.9,0.05],[0.2,0.3,0.5,0.6,0.0],B=500,conf=0.8,seed=3)))
