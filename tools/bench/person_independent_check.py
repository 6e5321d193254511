#!/usr/bin/python3
"""Recomputes report.json's person-independent F1 with scikit-learn on the same embeddings.

Usage: tools/bench/person_independent_check.py RUN_DIR [--embedding feature|code]

Same recipe as src/report/person_independent.cpp: frames every model embedded, at most
6000/subjects (20..200) evenly spaced frames per subject, subject-exclusive folds from the same
splitmix64 shuffle (seed + 101), pooled standardisation, LogisticRegression(C) per fold, F1 of
the pooled out-of-fold predictions per AU. Prints ours vs scikit-learn's, and the F1 of always
answering "present" on the same frames.
"""
import argparse, json, os, sys
import h5py, numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.preprocessing import StandardScaler

M64 = (1 << 64) - 1

class Rng:  # psmflow::eval::Rng (splitmix64, rejection sampling in below())
    def __init__(self, seed): self.s = seed & M64
    def next(self):
        self.s = (self.s + 0x9e3779b97f4a7c15) & M64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
        return z ^ (z >> 31)
    def below(self, n):
        limit = M64 - (M64 % n)
        while True:
            r = self.next()
            if r < limit: return r % n

def load(run, sid, emb):
    with h5py.File(os.path.join(run, "subjects", sid, "frames.h5"), "r") as f:
        fidx = f["frame_index"][:]
        aus = {int(k[2:]): f["au"][k][:].astype(int) for k in f["au"]}
    with h5py.File(os.path.join(run, "subjects", sid, "embeddings.h5"), "r") as e:
        tags = {t: (e[t]["frame_index"][:], e[t][emb][:]) for t in e}
    common = set(fidx.tolist())
    for fi, _ in tags.values(): common &= set(fi.tolist())
    rows = sorted(i for i, f in enumerate(fidx) if f in common)
    out = {"aus": {a: v[rows] for a, v in aus.items()}, "emb": {}}
    for t, (fi, x) in tags.items():
        pos = {f: i for i, f in enumerate(fi.tolist())}
        out["emb"][t] = x[[pos[fidx[r]] for r in rows]].astype(np.float64)
    return out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run"); ap.add_argument("--embedding", default="feature")
    a = ap.parse_args()
    rep = json.load(open(os.path.join(a.run, "report", "report.json")))
    pi = rep["person_independent"]
    subjects = [r["subject"] for r in rep["per_subject"]]
    seed, c, thr = 1, rep["settings"]["c"], rep["settings"]["present_threshold"]
    data = [load(a.run, s, a.embedding) for s in subjects]
    folds = min(3, len(subjects))
    per = max(20, min(200, 6000 // len(subjects)))
    order = list(range(len(subjects)))
    rng = Rng(seed + 101)
    for i in range(len(order) - 1, 0, -1):
        j = rng.below(i + 1); order[i], order[j] = order[j], order[i]
    sfold = [0] * len(subjects)
    for i, s in enumerate(order): sfold[s] = i % folds
    for tag in sorted(pi["models"]):
        xs, fold, ys = [], [], {au: [] for au in pi["aus"]}
        for s, d in enumerate(data):
            n = d["emb"][tag].shape[0]
            pick = list(range(n)) if n <= per else [i * n // per for i in range(per)]
            xs.append(d["emb"][tag][pick]); fold += [sfold[s]] * len(pick)
            for au in pi["aus"]:
                v = d["aus"].get(au, np.full(n, -1))[pick]
                ys[au].append(np.where(v < 0, -1, (v >= thr).astype(int)))
        x = StandardScaler().fit_transform(np.vstack(xs)); fold = np.array(fold)
        ours, theirs, always = [], [], []
        for au in pi["aus"]:
            y = np.concatenate(ys[au]); key = "AU%d" % au
            if key not in pi["models"][tag]["aus"]: continue
            pred = np.zeros(len(y), dtype=int)
            for f in range(folds):
                tr = (fold != f) & (y >= 0)
                if len(set(y[tr])) < 2: pred[fold == f] = y[tr][0] if tr.any() else 0; continue
                m = LogisticRegression(C=c, max_iter=10000, tol=1e-8).fit(x[tr], y[tr])
                pred[fold == f] = m.predict(x[fold == f])
            lab = y >= 0
            ours.append(pi["models"][tag]["aus"][key]); theirs.append(f1_score(y[lab], pred[lab]))
            always.append(f1_score(y[lab], np.ones(lab.sum(), dtype=int)))
            print(f"{tag:12s} {key:5s} ours {ours[-1]:.3f} sklearn {theirs[-1]:.3f} always-present {always[-1]:.3f} "
                  f"predicted present {pred[lab].mean():.3f} truly present {y[lab].mean():.3f}")
        print(f"{tag:12s} mean  ours {np.mean(ours):.3f} sklearn {np.mean(theirs):.3f} always-present {np.mean(always):.3f}")

if __name__ == "__main__":
    sys.exit(main())
