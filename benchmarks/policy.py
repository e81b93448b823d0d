"""Measured device policies: the tables behind the "auto" choices that ``benchmarks.spec`` resolves.

Each entry cites the measurement it rests on (``reports/bench/``); change a number only with a new
measurement. Nothing here is a cell's identity: records keep what was chosen in ``execution``.
"""

from __future__ import annotations

# Where "auto" turns bf16 autocast on: hardware with fast bf16 (cost.bf16_supported), and only for
# architectures whose bf16 accuracy the benchmark (reports/bench/evaluator_levers.json) found within 0.3
# points of fp32 at every measured budget: ConvNet-3 (-0.07, -0.05). LeNet (+0.42, -1.33) and
# test_resnet (-0.23, +0.51) missed the bar (n = 2, likely noise, but the bar is the bar): fp32.
# Cell by cell in cross-arch-fair (reports/bench/bf16_check.md: random sets, ipc 10, DSA, the recipe the fp32
# records chose, 1 thread, AMD EPYC): VGG-11 (DC's) -0.49, +0.06 (mean -0.21) is in; ConvNet-3 without norm
# +0.55, +0.29 (mean +0.42, bf16 the better) and ResNet-10-T -0.76, -0.82 (mean -0.79) missed the bar: fp32.
BF16_BY_DEFAULT = {"cpu": True, "cuda": True}
BF16_VERIFIED = {"convnet3", "vgg11_dc"}
BF16_MAX_DIFF = 0.3  # the bar: |mean test accuracy bf16 - fp32| in points (``benchmarks.perf.bf16_check``)
# Where stacking K models into one torch.func computation pays (reports/bench/evaluator_levers.json):
# on a 2-core CPU vmap'd convolutions ran slower than a loop, so the CPU trains one model at a time.
STACKED_BY_DEFAULT = {"cpu": False, "cuda": True}
# Forward/backward in chunks of this many images (gradients accumulated: the same update for
# batch-independent models) and test in batches of EVAL_BATCH: on a CPU, activations that stay
# in cache beat one large batch (measured in reports/bench/); GPUs take the whole batch at once.
MICRO_BATCH = {"cpu": 32}
EVAL_BATCH = {"cpu": 64, "cuda": 1024}
OTHER_EVAL_BATCH = 256  # a heavy model on a device type with no measurement
LIGHT_EVAL_BATCH = 1024  # light models: per-call overheads dominate, so one large batch
# Chunking and compiling pay only for compute-heavy models; a LeNet step (~1 MFLOP an image) is
# dominated by per-call overheads, which both levers multiply (measured: LeNet ran 2-5x slower).
HEAVY_FLOPS_PER_IMAGE = 20e6
# torch.compile by default where it paid with its compile time counted (reports/bench/): on the
# CPU it roughly doubled ConvNet-3's training throughput; below this many training images per
# model the ~10-25 s of compiling (once per process and architecture) is not won back.
COMPILE_BY_DEFAULT = {"cpu": True}
COMPILE_MIN_IMAGES = 20_000
# A single-input-channel stem convolution as one matmul over its unfolded patches (``benchmarks.nets.StemConv2d``)
# where that measured to pay: inside a compiled bf16 CPU graph, where oneDNN computes the weight gradient of a
# one-channel convolution on a generic gemm path (1.1 GFLOP/s in reports/bench/evaluator_phases_xeon_amx_conv_stem.md,
# measured before this lever). ConvNet-3 MNIST training step, 1 thread, Intel Xeon with AMX, idle: 225 -> 120 ms
# (126 with that conv's weight frozen). Elsewhere nn.Conv2d: eager bf16 345 -> 1,325 ms (358 with the output made
# contiguous), eager fp32 635 -> 859 (714), compiled fp32 512 -> 476 (noise), three input channels 165 -> 165.
MATMUL_STEM_DEVICES = {"cpu"}
# The same stem in eager bf16 code on these devices, where its zero padding is wider than the kernel's "same" padding
# (ConvNet's first conv at 28 px pads 3): padded first, then convolved without padding (``StemConv2d.explicit_padding``).
# oneDNN has no bf16 kernel for the wide padding and ran the weight and bias gradient on x64:gemm:jit at 3.6 GFLOP/s,
# 24 % of a ConvNet-3 ipc-1 step's oneDNN time (``python -m benchmarks.perf.profile_phases --ipc 1 --primitives 20``,
# AMD EPYC, 2026-12-06). ConvNet-3 eager bf16 training step, 1 thread, AMD EPYC, idle, 5 alternated rounds: 10 images
# 27.2-31.5 -> 23.4-26.8 ms, 100 images in 4 chunks 289.6-308.7 -> 263.2-275.5 ms. Compiled graphs keep the matmul stem
# above (explicit padding there 172-175 against 168-170 ms a step, two suite runs beside) and fp32 keeps nn.Conv2d
# (the stem's forward + backward with explicit padding, 100 images: 69 -> 99 ms).
EXPLICIT_PAD_DEVICES = {"cpu"}
# ConvNet's 2 x 2 average pool as a sum over blocks of a reshaped view (``benchmarks.nets.AvgPool2x2``) inside
# compiled graphs on these devices: inductor turned the four-view form's backward into masked scatters with
# index arithmetic. ConvNet-3 MNIST step (100 images in 4 chunks, compiled, bf16, 1 thread, Intel Xeon with AMX,
# one or two suite runs on the cores; ``python -m benchmarks.perf.inductor_kernels``, three runs): inductor kernels
# 102.6 / 100.1 / 100.8 -> 68.4 / 69.4 / 72.1 ms a step, the stem block's norm + pool backward kernel
# 49.8 / 50.4 / 45.2 -> 23.3 / 24.2 / 23.1.
# Eager keeps the four views (reshape + sum measured slower there: bf16 [100,128,32,32] 118 -> 208 ms fwd + bwd).
RESHAPE_POOL_DEVICES = {"cpu"}
# 2 x 2 max pooling as maxima of four strided views with max_pool2d's own indices (``benchmarks.max_pool``: the
# same values and gradients) in eager code on these devices: max_pool2d_with_indices was 29 % of the CPU time of
# LeNet's forward + backward on 1,024 MNIST images (an ad-hoc torch.profiler run, fp32, 1 thread, AMD EPYC). With it
# (``python -m benchmarks.perf.ld_levers``, reports/bench/ld_levers.md, 1 thread, alternating): that outer step
# 59.9 -> 50.4 CPU ms, ld's meta-iteration at N = 100 71.4 -> 60.0. Compiled graphs keep F.max_pool2d (inductor's).
FAST_MAX_POOL_DEVICES = {"cpu"}
# Channels-last (NHWC) weights and activations, not compiled, on these devices for architectures with depthwise
# convolutions (``training.has_depthwise``), whose NCHW kernels are slow in oneDNN and whose compiled graphs ran no
# faster than eager ones. Training step on 100 MNIST images at 28 px (ConvNeXt in chunks of 32, as ``MICRO_BATCH``
# runs it), fp32, SGD-momentum, 1 thread, AMD EPYC, two suite runs on the cores; NCHW against channels-last alternated,
# 4 rounds of 5 steps, ms per step: eager NCHW / compiled NCHW / compiled channels-last / eager channels-last:
# MobileNetV3-S 94-96 / 88-93 / 55-58 / 46-49; EfficientNet-B0 622-674 / 584-614 / 408-438 / 330-361;
# ConvNeXt-Atto 571-609 / 812-873 / 575-637 / 565-599. Without depthwise convolutions the same comparison moved
# little (ResNet-18 1,300-1,328 / 1,193-1,242 / 1,173-1,226 / 1,146-1,164; ResNet-10-T 731-789 / 633-645 / 627-633 /
# 607-623; RegNetX-200MF, grouped, 175-182 / 108-111 / 107-109 / 100-109; ViT-Tiny compiled 1,683-1,701 NCHW /
# 1,679-1,711), so they keep the compile policy above. Accuracy: MobileNetV3-S on random real MNIST images (ipc 10,
# seeds 0-3, 900 steps, DSA) 84.53 +- 3.84 % NCHW compiled, 86.03 +- 4.90 channels-last eager (the same arithmetic in
# another order; the seed-to-seed spread of 100 images dominates).
CHANNELS_LAST_DEPTHWISE_DEVICES = {"cpu"}
