"""Writes a tiny ONNX model that OpenCV 4.6's cv::FaceDetectorYN loads and runs like YuNet.

It is an oracle for the wiring of `[preprocess] detector = "dnn"`, not a real detector: the
"face" it finds is the one blob of bright green (G > 150) in the BGR image, its box comes from
the blob's moments, and its five landmarks sit at fixed places of that box, the eyes on a line
tilted by ROLL degrees (image-right eye lower for a positive roll).

What OpenCV 4.6 (modules/objdetect/src/face_detect.cpp) asks of the model:
- input: the BGR image as a 1x3xHxW float blob (blobFromImage: no scaling, no channel swap), of
  whatever size setInputSize() was given;
- outputs named "loc" (N x 14), "conf" (N x 2) and "iou" (N x 1), N = the number of priors it
  builds from the input size: feature maps f3..f6 with f2 = ((W+1)/2)/2 and each next one half
  the last (integer division), strides 8, 16, 32, 64, and 3, 2, 2, 3 anchor sizes
  (10 16 24 | 32 48 | 64 96 | 128 192 256 px), in the order map, row, column, anchor;
- decoding of prior i (centre (c+0.5)*stride, side = its anchor size s): centre + loc[0:2]*0.1*s,
  width s*exp(0.1*loc[2]), height s*exp(0.2*loc[3]), landmark k at centre + loc[4+2k:6+2k]*0.1*s;
  score = sqrt(conf[1] * clamp(iou, 0, 1)), kept when >= the score threshold, then NMS.
N must follow the input size, and OpenCV 4.6 folds ONNX Shape ops to constants at import, so
the map sizes come from the layers themselves: a stride-8 convolution gives exactly
floor((W+1)/8) = f3 columns, and 2x2 max pools give f4..f6.

Only the first anchor (10 px) of the stride-8 map answers. Each of its cells sums, over a window
of 2R pixels around its centre, the mask and its first and second moments (two separable
convolutions); a cell whose window holds the whole blob (nothing of it in the window's outer
8-pixel band) scores 1 and decodes to the blob's centre and size, every other prior scores 0.
Several cells hold the whole blob and decode to the same box; NMS keeps one.

usage: yunet_oracle.py ROLL_DEGREES FOLDER
writes FOLDER/oracle.onnx, and for the errors psmflow must give, FOLDER/not_yunet.onnx (a valid
ONNX model without YuNet's outputs) and FOLDER/wrong_layout.onnx (YuNet's output names, wrong sizes)
"""
import math
import sys

import torch
import torch.nn.functional as F

R = 80           # half window (px): faces up to about 2 * (R - 8) - 8 = 136 px across are found
BAND = 8         # the outer band that must be empty of the blob
STRIDE = 8
ANCHOR = 10.0    # first anchor size of the stride-8 map
EYE_DX, EYE_DY = 0.22, -0.12  # eye offsets from the box centre, in box widths


def window_kernels():
    """Horizontal (1 x 2R+1) and vertical (2R+1 x 1) kernels.

    With padding R-3 a stride-8 convolution gives floor((W+1)/8) outputs, and output c covers
    input pixels 8c-R+3 .. 8c+R+3; tap k (1..2R) is pixel 8c-R+3+k, whose centre lies
    d = k-R-0.5 from the cell centre 8c+4 (in the continuous coordinates of OpenCV's priors).
    Tap 0 stays zero so that the window is symmetric.
    """
    d = torch.zeros(2 * R + 1)
    inside = torch.zeros(2 * R + 1)
    inner = torch.zeros(2 * R + 1)
    for k in range(1, 2 * R + 1):
        d[k] = k - R - 0.5
        inside[k] = 1
        inner[k] = 1 if abs(d[k]) < R - BAND else 0
    # horizontal: mask -> [sum, sum dx, sum dx^2, inner sum]
    h = torch.stack([inside, d, d * d, inner]).view(4, 1, 1, 2 * R + 1)
    # vertical: [sum, sum dx, sum dx^2, inner sum] -> [S, Sx, Sxx, Sy, Syy, S_inner]
    v = torch.zeros(6, 4, 2 * R + 1, 1)
    v[0, 0, :, 0] = inside
    v[1, 1, :, 0] = inside
    v[2, 2, :, 0] = inside
    v[3, 0, :, 0] = d
    v[4, 0, :, 0] = d * d
    v[5, 3, :, 0] = inner
    return h, v


def unit_clamp(x):
    """clamp(x, 0, 1) from ReLUs: OpenCV 4.6 reads ONNX Clip only in its opset < 11 form."""
    return torch.relu(x) - torch.relu(x - 1.0)


class Oracle(torch.nn.Module):
    def __init__(self, roll_deg):
        super().__init__()
        h, v = window_kernels()
        self.register_buffer("h", h)
        self.register_buffer("v", v)
        self.tilt = math.tan(math.radians(roll_deg))

    def forward(self, x):
        g = x[:, 1:2]                                    # green channel of BGR
        mask = unit_clamp((g - 150.0) / 50.0)
        rows = F.conv2d(mask, self.h, stride=(1, STRIDE), padding=(0, R - 3))
        m = F.conv2d(rows, self.v, stride=(STRIDE, 1), padding=(R - 3, 0))
        s, sx, sxx, sy, syy, s_in = [m[:, i:i + 1] for i in range(6)]
        n = s + 1e-3
        mx, my = sx / n, sy / n                          # blob centre - cell centre (px)
        # A solid w-pixel run has variance (w^2 - 1) / 12.
        w = torch.sqrt(torch.relu(sxx / n - mx * mx) * 12.0 + 1.0)
        h = torch.sqrt(torch.relu(syy / n - my * my) * 12.0 + 1.0)
        whole = unit_clamp(1.0 - (s - s_in) / 2.0)   # nothing in the outer band
        big = unit_clamp((s - 30.0) / 20.0)          # at least ~50 blob pixels
        q = whole * big

        unit = 0.1 * ANCHOR                              # loc unit of the 10 px anchor, in px
        ex, ey = EYE_DX * w, EYE_DY * w
        lean = EYE_DX * w * self.tilt
        marks = [
            (mx - ex, my + ey - lean),                   # image-left eye (YuNet: "right eye")
            (mx + ex, my + ey + lean),                   # image-right eye
            (mx, my + 0.05 * w),                         # nose tip
            (mx - 0.18 * w, my + 0.25 * w),              # mouth corners
            (mx + 0.18 * w, my + 0.25 * w),
        ]
        loc = [mx / unit, my / unit, torch.log(w / ANCHOR) / 0.1, torch.log(h / ANCHOR) / 0.2]
        for px, py in marks:
            loc += [px / unit, py / unit]
        zeros = s * 0.0
        # Per map: loc as (1, anchors*14, rows, cols), conf (anchors*2), iou (anchors); the
        # permute + reshape puts them in OpenCV's prior order (row, column, anchor).
        levels = [(torch.cat(loc + [zeros] * 28, dim=1),
                   torch.cat([1.0 - q, q] + [zeros + 1.0, zeros] * 2, dim=1),
                   torch.cat([q, zeros, zeros], dim=1))]
        cur = s
        for anchors in (2, 2, 3):                        # strides 16, 32, 64: nobody home
            cur = F.max_pool2d(cur, 2, 2)
            z = cur * 0.0
            levels.append((torch.cat([z] * (14 * anchors), dim=1), torch.cat([z + 1.0, z] * anchors, dim=1),
                           torch.cat([z] * anchors, dim=1)))

        def flat(t, width):
            return t.permute(0, 2, 3, 1).reshape(1, -1, width)

        locs = [flat(lv[0], 14) for lv in levels]
        confs = [flat(lv[1], 2) for lv in levels]
        ious = [flat(lv[2], 1) for lv in levels]
        return torch.cat(locs, 1), torch.cat(confs, 1), torch.cat(ious, 1)


class NotYuNet(torch.nn.Module):
    """A valid ONNX model without YuNet's outputs, for the error it must give."""

    def forward(self, x):
        return torch.relu(x)


class WrongLayout(torch.nn.Module):
    """YuNet's output names with one prior's worth of values whatever the input size: OpenCV 4.6
    would read past their end, so psmflow must refuse the model."""

    def forward(self, x):
        g = x[:, 1:2]
        return g[:, :, 0:2, 0:7].reshape(1, -1, 14), g[:, :, 0:1, 0:2].reshape(1, -1, 2), g[:, :, 0:1, 0:1].reshape(1, -1, 1)


def export(model, out, outputs):
    x = torch.zeros(1, 3, 240, 320)
    torch.onnx.export(model, x, out, input_names=["input"], output_names=outputs,
                      dynamic_axes={"input": {2: "h", 3: "w"}}, opset_version=11)


def main():
    roll, folder = float(sys.argv[1]), sys.argv[2]
    export(Oracle(roll).eval(), folder + "/oracle.onnx", ["loc", "conf", "iou"])
    export(NotYuNet().eval(), folder + "/not_yunet.onnx", ["y"])
    export(WrongLayout().eval(), folder + "/wrong_layout.onnx", ["loc", "conf", "iou"])


if __name__ == "__main__":
    main()
