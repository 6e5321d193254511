# Writes the PyTorch side of the model's interop and oracle tests (test_interop.cpp), with
# Debian's python3-torch: torch_oracle.py MODE OUT_DIR SHARED_DIR
#   checkpoint: ckpt.pt = the original checkpoint layout (OrderedDict state_dicts with the names
#               and shapes of testvectors/pytorch_state_dict_keys.txt, random values) and
#               ckpt.raw = the same values as raw float32 in that file's order.
#   views:      views.pt = tensors that share storage, with offsets and strides, other dtypes, a
#               Parameter, nested dicts and non-tensor values.
#   oracle:     ref.pt (checkpoint of shared/bench/ref_psm_step.py's modules, seed 0),
#               vgg_indep.pt (its own random VGG trunk), vgg_stem.pt (trunk whose conv1_1..conv3_1
#               are the generator stem, as with real VGG weights), inputs + expected losses.
import sys, collections
import torch

mode, out, shared = sys.argv[1], sys.argv[2], sys.argv[3]
torch.set_num_threads(1)


def read_keys():
    groups, cur = collections.OrderedDict(), None
    for line in open(f"{shared}/testvectors/pytorch_state_dict_keys.txt"):
        line = line.strip()
        if line.startswith("## "):
            cur = groups.setdefault(line[3:], [])
        elif line:
            name, shape = line.split(" ", 1)
            cur.append((name, [int(v) for v in shape.strip("[]").split(",")]))
    return groups


def checkpoint():
    torch.manual_seed(7)
    ckpt, raw = {}, []
    for group, keys in read_keys().items():
        sd = collections.OrderedDict()
        sd._metadata = collections.OrderedDict({"": {"version": 1}})  # as nn.Module.state_dict() has
        for name, shape in keys:
            sd[name] = torch.randn(shape)
            raw.append(sd[name].flatten())
        ckpt[group] = sd
    torch.save(ckpt, f"{out}/ckpt.pt")
    torch.cat(raw).numpy().tofile(f"{out}/ckpt.raw")


def views():
    base = torch.arange(24, dtype=torch.float32)
    m = base.view(4, 6)
    nested = collections.OrderedDict(inner=torch.arange(5, dtype=torch.int64))
    torch.save({"slice": base[5:9], "transposed": m.t(), "strided": m[:, ::2], "double": torch.arange(3, dtype=torch.float64) / 4,
                "param": torch.nn.Parameter(torch.ones(2, 2)), "scalar": torch.tensor(2.5), "epoch": 12,
                "note": "text", "nested": nested}, f"{out}/views.pt")


def renamed(sd, table):
    out = collections.OrderedDict()
    for k, v in sd.items():
        for ours, theirs in table:
            if k.startswith(ours):
                k = theirs + k[len(ours):]
                break
        out[k] = v
    return out


def record(case, ref, E, Fl, G, vgg, opt, x0, x1, expected):
    # The loss terms as ref.step computes them (same code, terms kept), checked against ref.step itself.
    F = torch.nn.functional
    torch.manual_seed(123)
    b = x0.shape[0]
    X = torch.cat([x0, x1]); flow, back = Fl(E(X))
    neu = G(X, flow); sw = ref.swap(neu, b); dfw = ref.warp(X, flow)
    dbw = ref.warp(ref.swap(dfw, b), back); sbw = ref.warp(sw, back); recon = G(sw, back); rec = G(X)
    l1 = F.l1_loss
    t = {"pixel": l1(recon, X) + l1(rec, X) + l1(sbw, X) + 1.5 * l1(dbw, X)}
    tf, rf = vgg(torch.cat([X] * 4)), vgg(torch.cat([neu, sbw, dbw, recon]))
    t["perc"] = sum(F.mse_loss(ref.gram(r), ref.gram(q).detach()) for r, q in zip(rf, tf))
    t["ssim"] = (1 - ref.ssim(X, recon)) + (1 - ref.ssim(X, rec)) + 1.5 * (1 - ref.ssim(X, dbw))
    t["sym"] = ref.sym(neu) + 0.5 * ref.sym(dfw)
    t["total"] = 0.01 * t["perc"] + t["pixel"] + 1.5 * t["sym"] + 5 * t["ssim"]
    torch.manual_seed(123)
    total = ref.step(E, Fl, G, vgg, opt, x0, x1)
    assert abs(total - t["total"].item()) < 1e-5 * abs(total), (total, t["total"].item())
    for k, v in t.items():
        expected[case + "." + k] = v.detach()


def oracle():
    sys.path.insert(0, f"{shared}/bench")
    import ref_psm_step as ref
    torch.manual_seed(0)
    E, Fl, G, vgg = ref.Encoder(), ref.FlowDecoder(), ref.Generator(), ref.VGGTrunk().eval()
    # VGG-like stems: with PyTorch's default init the activations shrink ~√3 per layer and the
    # perceptual term would vanish below float resolution of the total.
    for m in list(G.stem1) + list(G.stem2) + list(vgg.modules()):
        if isinstance(m, torch.nn.Conv2d):
            with torch.no_grad():
                m.weight.normal_(0, (2.0 / (9 * m.in_channels)) ** 0.5), m.bias.normal_(0, 0.1)
    # The reference's flat Sequentials hold the same tensors in the same order as the original.
    their = read_keys()
    enc = collections.OrderedDict(zip([k for k, _ in their["codegeneration"]], E.state_dict().values()))
    flo = collections.OrderedDict(zip([k for k, _ in their["exptoflow"]], Fl.state_dict().values()))
    gen = renamed(G.state_dict(), [("stem1.0.", "conv1_1.0."), ("stem1.2.", "conv1_2.0."), ("stem1.5.", "conv2_1.0."),
                                    ("stem2.0.", "conv2_2.0."), ("stem2.3.", "conv3_1.0."), ("ne0.", "noise_encoding0."),
                                    ("ne1.", "noise_encoding1."), ("red.", "redconv."), ("rgb.", "torgb.")])
    gen = collections.OrderedDict((k.replace(".c1.", ".conv1.").replace(".c2.", ".conv2."), v) for k, v in gen.items())
    for group, sd in (("codegeneration", enc), ("exptoflow", flo), ("Swap_Generator", gen)):
        want = dict(their[group])
        assert set(sd) == set(want), (group, set(sd) ^ set(want))
        assert all(list(sd[k].shape) == want[k] for k in sd)
    torch.save({"codegeneration": enc, "exptoflow": flo, "Swap_Generator": gen}, f"{out}/ref.pt")
    trunk_names = ["features.%d" % i for i in (0, 2, 5, 7, 10, 12, 14, 16, 19)]
    convs = [m for m in vgg.modules() if isinstance(m, torch.nn.Conv2d)]

    def save_vgg(path):
        sd = collections.OrderedDict()
        for name, conv in zip(trunk_names, convs):
            sd[name + ".weight"], sd[name + ".bias"] = conv.weight.detach(), conv.bias.detach()
        sd["classifier.6.bias"] = torch.zeros(1000)  # torchvision's dict has more; it is ignored
        torch.save(sd, path)

    x0, x1 = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 64, 64)
    expected = {"x0": x0, "x1": x1}
    with torch.no_grad():
        feat = E.f(torch.cat([x0, x1])).flatten(1)
        expected["feature"], expected["code"] = feat, torch.tanh(E.mlp(feat))
    opt = torch.optim.SGD([p for m in (E, Fl, G) for p in m.parameters() if p.requires_grad], lr=0.0)
    save_vgg(f"{out}/vgg_indep.pt")
    record("indep", ref, E, Fl, G, vgg, opt, x0, x1, expected)
    stem = [m for m in list(G.stem1) + list(G.stem2) if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for dst, src in zip(convs, stem):
            dst.weight.copy_(src.weight), dst.bias.copy_(src.bias)
    save_vgg(f"{out}/vgg_stem.pt")
    record("stem", ref, E, Fl, G, vgg, opt, x0, x1, expected)
    torch.save(expected, f"{out}/expected.pt")


{"checkpoint": checkpoint, "views": views, "oracle": oracle}[mode]()
