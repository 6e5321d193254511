# Sums a chrome trace (from model_bench with PSMFLOW_PROFILE=FILE) by operator: top ops by self time.
import json, sys, collections
ev = json.load(open(sys.argv[1]))
ev = ev["traceEvents"] if isinstance(ev, dict) else ev
spans = sorted([e for e in ev if e.get("ph") == "X"], key=lambda e: (e.get("tid"), e["ts"], -e["dur"]))
# self time = duration minus durations of directly nested spans on the same thread
self_t, stack = collections.Counter(), []
for e in spans:
    while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
        stack.pop()
    if stack and stack[-1].get("tid") == e.get("tid"):
        self_t[stack[-1]["name"]] -= e["dur"]
    self_t[e["name"]] += e["dur"]
    stack.append(e)
total = sum(self_t.values())
for name, t in self_t.most_common(int(sys.argv[2]) if len(sys.argv) > 2 else 15):
    print(f"{t / 1000:10.1f} ms {100 * t / total:5.1f}%  {name}")
