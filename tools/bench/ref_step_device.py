# The PyTorch reference step (shared/bench/ref_psm_step.py) on any device, with what its own main
# lacks for tools/gpu-check: bf16 autocast. Prints one JSON line: ms/step and img/s.
# Usage: ref_step_device.py SHARED_DIR PAIRS STEPS DEVICE TF32(0|1) BF16(0|1)
import json, sys, time
import torch
sys.path.insert(0, sys.argv[1] + "/bench")
import ref_psm_step as ref

b, n, dev = int(sys.argv[2]), int(sys.argv[3]), torch.device(sys.argv[4])
tf32, bf16 = sys.argv[5] == "1", sys.argv[6] == "1"
if dev.type == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
torch.manual_seed(0)
E, Fl, G = ref.Encoder().to(dev), ref.FlowDecoder().to(dev), ref.Generator().to(dev)
vgg = ref.VGGTrunk().to(dev).eval()
params = [p for m in (E, Fl, G) for p in m.parameters() if p.requires_grad]
opt = torch.optim.Adam(params, lr=8e-5, betas=(0.5, 0.999))
x0, x1 = torch.randn(b, 3, 64, 64, device=dev), torch.randn(b, 3, 64, 64, device=dev)


def step():
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
        ref.step(E, Fl, G, vgg, opt, x0, x1)


step()
sync()
t = time.perf_counter()
for _ in range(n):
    step()
sync()
dt = (time.perf_counter() - t) / n
print(json.dumps({"pairs": b, "device": dev.type, "tf32": tf32, "bf16": bf16, "ms_per_step": dt * 1000,
                  "images_per_s": 2 * b / dt}))
