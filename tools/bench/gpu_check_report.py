"""gpu-check.json and gpu-check.md from the files tools/gpu-check leaves in OUT: psmflow.json
(tools/bench/gpu_check.cpp), reference.jsonl (tools/bench/ref_step_device.py) and environment.txt.
A check that failed, or never ran because the run was cut short, is reported as such; the rest
are reported in full.    Usage: gpu_check_report.py OUT"""
import json
import os
import sys


def equivalence(r):
    e = r["equivalence"]
    return [f"1. Equivalence with the CPU (TF32 off, noise off): worst loss term {e['worst_loss_relative']:.2e}, "
            f"worst gradient {e['worst_gradient_relative']:.2e} ({e['worst_gradient']}); tolerance "
            f"{e['tolerance']['loss']:g} / {e['tolerance']['gradient']:g}: {'pass' if e['pass'] else 'FAIL'}"]


def speed(r):
    md = ["2. Speed (img/s; reference = shared/bench/ref_psm_step.py on the same device):", "",
          "| pairs | precision | tf32 | cuDNN benchmark | psmflow img/s | reference img/s | ratio | peak MB |",
          "|---|---|---|---|---|---|---|---|"]
    for s in r["speed"]:
        ref = [x for x in r["reference"] if x["pairs"] == s["pairs"] and x["bf16"] == (s["precision"] == "bf16")
               and (x["tf32"] == s["tf32"] or r["device"] == "cpu")]
        ri = ref[0]["images_per_s"] if ref else None
        md.append(f"| {s['pairs']} | {s['precision']} | {int(s['tf32'])} | {int(s['cudnn_benchmark'])} | "
                  f"{s['images_per_s']:.2f} | "
                  f"{'%.2f' % ri if ri else '-'} | {'%.2fx' % (s['images_per_s'] / ri) if ri else '-'} | "
                  f"{s['peak_memory_mb']:.0f} |")
    return md


def nccl(r):
    n = r["nccl"]
    if not n["run"]:
        return [f"3. NCCL: not run: {n['reason']}"]
    return [f"3. NCCL ({n['transport']}): {n['buckets']} buckets, {n['started_in_backward']} started in backward; "
            f"relative change: broadcast {n['broadcast_relative_change']:.1e}, plain {n['plain_relative_change']:.1e}, "
            f"overlapped {n['overlapped_relative_change']:.1e}: {'pass' if n['pass'] else 'FAIL'}"]


def resume(r):
    res = r["resume"]
    return [f"4. Resume: exact {res['exact']}, worst relative {res['worst_relative']:.1e}, CUDA generator state "
            f"saved {res['cuda_generator_saved']}: {'pass' if res['pass'] else 'FAIL'}"]


def data_path(r):
    d = r["data_path"]
    return [f"5. Data path ({d['source']}), batch {d['pairs']}: {d['images_per_s']:.2f} img/s"]


def profile(r):
    p = r["profile"]
    return [f"6. Top operators of one fp32 step ({p['clock']} time, batch {p['pairs']}):", ""] + \
           [f"- {o['op']}: {o['ms']:.1f} ms" for o in p["top_ops"]]


def write_whole(path, text):
    """Writes text to path under a temporary name, then renames it into place."""
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main(out):
    path = f"{out}/psmflow.json"
    r = json.load(open(path)) if os.path.exists(path) else {"device": "?", "preset": "?", "libtorch": "?"}
    refs = f"{out}/reference.jsonl"
    r["reference"] = [json.loads(l) for l in open(refs) if l.strip()] if os.path.exists(refs) else []
    env = f"{out}/environment.txt"
    r["environment"] = open(env).read().splitlines() if os.path.exists(env) else []
    write_whole(f"{out}/gpu-check.json", json.dumps(r, indent=2))
    md = [f"# gpu-check: {r['device']}, preset {r['preset']}, LibTorch {r['libtorch']}", ""]
    md += [f"- {line}" for line in r["environment"]] + [""]
    for name, section in [("equivalence", equivalence), ("speed", speed), ("nccl", nccl), ("resume", resume),
                          ("data_path", data_path), ("profile", profile)]:
        if name not in r:
            md += [f"{name}: not run (the run stopped before it; see the command's output)", ""]
        elif "error" in r[name]:
            md += [f"{name}: FAILED: {r[name]['error']}", ""]
        else:
            md += section(r) + [""]
    write_whole(f"{out}/gpu-check.md", "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main(sys.argv[1])
