"""Check a labelled JSONL file against SPEC.md: python3 check.py FILE.jsonl"""
import json, sys
from collections import Counter
CATS = {"搬家配送", "家电水电维修", "家政护工保洁", "开锁换锁", "管道疏通", "家具安装", "陪诊代办"}
path = sys.argv[1]
seen, bad, cats, needs = set(), 0, Counter(), Counter()
for n, line in enumerate(open(path, encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        d = json.loads(line)
        t = d["text"]; assert isinstance(t, str) and t.strip(), "empty text"
        assert isinstance(d["need"], bool), "need must be bool"
        c = d["category"]
        if d["need"]:
            cs = c if isinstance(c, list) else [c]
            assert all(x in CATS for x in cs) and 1 <= len(cs) <= 2, f"bad category {c}"
            for x in cs: cats[x] += 1
        else:
            assert c is None, "category must be null when need is false"
        assert isinstance(d["phone"], list), "phone must be a list"
        for p in d["phone"]: assert p in t, f"phone {p!r} not in text"
        for k in ("address", "time", "budget"):
            v = d.get(k)
            assert v is None or (isinstance(v, str) and v in t), f"{k} {v!r} not in text"
        assert isinstance(d.get("kind"), str), "kind missing"
        assert t not in seen, "duplicate text"
        seen.add(t); needs[d["need"]] += 1
    except Exception as e:
        bad += 1; print(f"line {n}: {e}")
print(f"{len(seen)} lines, {bad} bad; needs {needs[True]}, non-needs {needs[False]}")
print(dict(cats))
