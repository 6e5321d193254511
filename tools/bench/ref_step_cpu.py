# Times shared/bench/ref_psm_step.py's training step as its own main does (seed 0, random inputs,
# one warm-up step), printing wall and CPU time per step, so that runs on a loaded machine compare.
# Usage: ref_step_cpu.py SHARED_DIR [pairs=16] [threads=2] [steps=2]
import sys, time
import torch
sys.path.insert(0, sys.argv[1] + "/bench")
import ref_psm_step as ref

b = int(sys.argv[2]) if len(sys.argv) > 2 else 16
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
n = int(sys.argv[4]) if len(sys.argv) > 4 else 2
torch.manual_seed(0)
E, Fl, G, vgg = ref.Encoder(), ref.FlowDecoder(), ref.Generator(), ref.VGGTrunk().eval()
params = [p for m in (E, Fl, G) for p in m.parameters() if p.requires_grad]
opt = torch.optim.Adam(params, lr=8e-5, betas=(0.5, 0.999))
x0, x1 = torch.randn(b, 3, 64, 64), torch.randn(b, 3, 64, 64)
ref.step(E, Fl, G, vgg, opt, x0, x1)
t, c = time.perf_counter(), time.process_time()
for _ in range(n):
    ref.step(E, Fl, G, vgg, opt, x0, x1)
dt, dc = (time.perf_counter() - t) / n, (time.process_time() - c) / n
print(f"reference step: batch {b} pairs, {torch.get_num_threads()} threads: {dt * 1000:.0f} ms/step, "
      f"{2 * b / dt:.2f} img/s, CPU {dc * 1000:.0f} ms/step")
