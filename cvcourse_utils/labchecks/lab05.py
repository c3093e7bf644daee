"""Lab 05 · CNN architectures and transfer learning: the tasks, their public cases and library references.

Blocks are checked against torchvision: the student's module and torchvision's (``BasicBlock``,
``Bottleneck``, ``Conv2dNormActivation`` as in MobileNet, ``ops.SqueezeExcitation``) get the
same weights (copied from torchvision's, whose BatchNorm statistics are randomised first), then
their outputs are compared on the same input in training mode (batch statistics) and in eval mode
(running statistics), with their parameter counts. FLOP counts are compared with
``torch.utils.flop_counter.FlopCounterMode``; the triplet loss and its gradient with
``nn.TripletMarginLoss``; recall@k with scikit-learn's brute-force nearest neighbours. The
transfer-learning helpers have no single right answer, so their checks test properties.
"""
from __future__ import annotations

import numpy as np

from cvcourse_utils.checking import Case, CheckFailed, Task, close, equal

# --------------------------------------------------------------------------- blocks: torchvision references


def block_inputs(rng: np.random.Generator, in_channels: int, out_channels: int, stride: int, n: int, h: int, w: int,
                 seed: int = 0) -> tuple:
    """``(in_channels, out_channels, stride, x, seed)``: x (n, in_channels, h, w) float32; seed picks the weights."""
    return (in_channels, out_channels, stride, rng.normal(size=(n, in_channels, h, w)).astype(np.float32), seed)


def _randomise_batchnorm(module) -> None:
    """Give every BatchNorm non-trivial affine parameters and running statistics (so eval mode is tested)."""
    import torch
    from torch import nn

    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)


def _projection(in_channels: int, out_channels: int, stride: int):
    from torch import nn

    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels))


def reference_basic_block(in_channels: int, out_channels: int, stride: int, seed: int):
    """torchvision's ``BasicBlock`` with a projection shortcut when the shape changes, seeded weights."""
    import torch
    from torchvision.models.resnet import BasicBlock

    torch.manual_seed(seed)
    block = BasicBlock(in_channels, out_channels, stride, downsample=_projection(in_channels, out_channels, stride))
    _randomise_batchnorm(block)
    return block


def reference_bottleneck_block(in_channels: int, planes: int, stride: int, seed: int):
    """torchvision's ``Bottleneck`` (stride on the 3x3 convolution, 4 planes out), seeded weights."""
    import torch
    from torchvision.models.resnet import Bottleneck

    torch.manual_seed(seed)
    block = Bottleneck(in_channels, planes, stride, downsample=_projection(in_channels, 4 * planes, stride))
    _randomise_batchnorm(block)
    return block


def reference_depthwise_separable(in_channels: int, out_channels: int, stride: int, seed: int):
    """MobileNet's depthwise-separable block from torchvision's ``Conv2dNormActivation``:
    3x3 depthwise conv (stride, groups=in_channels) -> BN -> ReLU, then 1x1 conv -> BN -> ReLU."""
    import torch
    from torch import nn
    from torchvision.ops.misc import Conv2dNormActivation

    torch.manual_seed(seed)
    block = nn.Sequential(
        Conv2dNormActivation(in_channels, in_channels, 3, stride=stride, groups=in_channels, activation_layer=nn.ReLU),
        Conv2dNormActivation(in_channels, out_channels, 1, activation_layer=nn.ReLU),
    )
    _randomise_batchnorm(block)
    return block


def reference_squeeze_excitation(channels: int, squeeze_channels: int, stride: int, seed: int):
    """torchvision's ``ops.SqueezeExcitation`` (ReLU inside, sigmoid gate); ``stride`` is unused (always 1)."""
    import torch
    from torchvision.ops import SqueezeExcitation

    torch.manual_seed(seed)
    return SqueezeExcitation(channels, squeeze_channels)


def copy_weights(source, target) -> None:
    """Copy ``source``'s parameters and buffers into ``target``: by name when the names agree,
    else in the order the layers were created (shapes must agree; a Linear may stand for a 1x1 conv)."""
    import torch

    src, dst = source.state_dict(), target.state_dict()
    if list(src) == list(dst):
        pairs = [(k, src[k], k, dst[k]) for k in src]
    else:
        if len(src) != len(dst):
            raise ValueError(f"your module has {len(dst)} parameters and buffers ({', '.join(dst)}); torchvision's has "
                             f"{len(src)} ({', '.join(src)}): create the same layers, in the order given")
        pairs = [(ks, vs, kd, vd) for (ks, vs), (kd, vd) in zip(src.items(), dst.items())]
    new = {}
    for ks, vs, kd, vd in pairs:
        if vs.numel() != vd.numel():
            raise ValueError(f"your {kd} has shape {tuple(vd.shape)} where torchvision's {ks} has {tuple(vs.shape)}: "
                             "create the same layers, with the same sizes, in the order given")
        new[kd] = vs.detach().clone().reshape(vd.shape).to(vd.dtype)
    with torch.no_grad():
        target.load_state_dict(new)


def _outputs(module, x) -> dict:
    import torch

    xt = torch.from_numpy(x)
    module.train()
    train_out = module(xt.clone())
    module.eval()
    with torch.no_grad():
        eval_out = module(xt.clone())
    return {"train_output": train_out.detach(), "eval_output": eval_out,
            "parameters": sum(p.numel() for p in module.parameters())}


def _block_runner(reference):
    def call(fn, args):
        from torch import nn

        in_channels, out_channels, stride, x, seed = args
        module = fn(in_channels, out_channels, stride) if reference is not reference_squeeze_excitation else \
            fn(in_channels, out_channels)
        if not isinstance(module, nn.Module):
            raise TypeError(f"{getattr(fn, '__name__', 'the class')}(...) must build an nn.Module, got {type(module).__name__}")
        parameters = sum(p.numel() for p in module.parameters())
        copy_weights(reference(in_channels, out_channels, stride, seed), module)
        result = _outputs(module, x)
        result["parameters"] = parameters  # counted before the copy, as built
        return result

    call.__name__ = f"run_{reference.__name__.removeprefix('reference_')}"
    return call


def _block_expected(reference):
    def expected(in_channels, out_channels, stride, x, seed):
        return _outputs(reference(in_channels, out_channels, stride, seed), x)

    return expected


_compare_blocks = close(atol=1e-4, rtol=1e-4)


def compare_block(actual, expected, args) -> None:
    """Parameter count first (a clearer message), then both outputs (float32)."""
    if isinstance(actual, dict) and "parameters" in actual and int(actual["parameters"]) != int(expected["parameters"]):
        raise CheckFailed(f"your module has {int(actual['parameters']):,} parameters, torchvision's "
                          f"{int(expected['parameters']):,} (in_channels={args[0]}, out={args[1]}, stride={args[2]})")
    _compare_blocks(actual, expected, args)


# --------------------------------------------------------------------------- FLOPs


def conv_flops_reference(in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int,
                         groups: int, bias: bool, height: int, width: int) -> dict:
    """FLOPs of one image through ``nn.Conv2d`` as ``FlopCounterMode`` counts them (2 per multiply-add,
    bias not counted), and the layer's parameters."""
    import torch
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode

    layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=bias)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        layer(torch.zeros(1, in_channels, height, width))
    return {"flops": counter.get_total_flops(), "params": sum(p.numel() for p in layer.parameters())}


FLOP_MODELS = ("lenet5", "small_cnn", "cifar_resnet", "mobilenet_v2", "depthwise_stack")


def flop_model(name: str):
    """The networks whose FLOPs the ``network_flops`` cases count (untrained; weights do not matter)."""
    import torch
    from torch import nn

    from cvcourse_utils.models import CifarResNet, LeNet5, SmallCNN

    torch.manual_seed(0)
    if name == "lenet5":
        return LeNet5(1, 10)
    if name == "small_cnn":
        return SmallCNN(3, 5, width=8)
    if name == "cifar_resnet":
        return CifarResNet(3, 5, blocks=(1, 1, 1), width=8)
    if name == "mobilenet_v2":
        from torchvision.models import mobilenet_v2

        return mobilenet_v2(weights=None, width_mult=0.35, num_classes=7)
    if name == "depthwise_stack":
        return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                             nn.Conv2d(8, 16, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 3))
    raise ValueError(f"unknown model {name!r}; one of {', '.join(FLOP_MODELS)}")


def run_network_flops(fn, args):
    name, input_shape = args
    model = flop_model(name).eval()
    return int(fn(model, tuple(int(s) for s in input_shape)))


def network_flops_reference(name: str, input_shape) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = flop_model(name).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, *input_shape))
    return counter.get_total_flops()


# --------------------------------------------------------------------------- transfer learning: property checks


def _probe_backbone(width: int, seed: int):
    import torch

    from cvcourse_utils.models import CifarResNet

    torch.manual_seed(seed)
    return CifarResNet(3, 5, blocks=(1, 1, 1), width=width)


def run_linear_probe_model(fn, args) -> dict:
    """Build the probe on a small random CifarResNet and train it briefly as ``fit`` does (``model.train()``,
    then SGD steps on the trainable parameters); report what changed. Everything but the new head must stay
    as it was: the weights and the buffers too (BatchNorm's running statistics move in training mode)."""
    import torch
    from torch import nn

    num_classes, width, seed = args
    backbone = _probe_backbone(width, seed)
    model = fn(backbone, num_classes)
    if not isinstance(model, nn.Module):
        raise TypeError(f"linear_probe_model must return an nn.Module, got {type(model).__name__}")
    trainable = [p for p in model.parameters() if p.requires_grad]
    learns = {id(p) for p in trainable}
    frozen_before = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items() if id(v) not in learns}
    features_before = {k: v.detach().clone() for k, v in backbone.features.state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(trainable, lr=0.1) if trainable else None
    for _ in range(2):  # a short probe training, as fit runs it: training mode, then optimizer steps
        model.train()
        logits = model(torch.rand(6, 3, 32, 32, generator=generator))
        if optimizer is not None:
            optimizer.zero_grad()
            logits.logsumexp(dim=1).sum().backward()
            optimizer.step()
    after = model.state_dict()
    moved = [k for k, v in frozen_before.items() if k not in after or not torch.equal(v, after[k])]
    features_after = backbone.features.state_dict()
    if not moved:  # the features themselves, in case the model holds them elsewhere
        moved = [f"backbone.features.{k}" for k, v in features_before.items() if not torch.equal(v, features_after[k])]
    return {"output_shape": list(logits.shape), "trainable": sum(p.numel() for p in trainable),
            "feature_channels": backbone.feature_channels, "frozen_moved": moved,
            "backbone_frozen": all(not p.requires_grad for p in backbone.features.parameters()),
            "head_is_new": bool(model is not backbone or backbone.head[-1].out_features == num_classes)}


def compare_linear_probe_model(actual, expected, args) -> None:
    num_classes, width, seed = args
    shape = [int(s) for s in actual["output_shape"]]
    if shape != [6, num_classes]:
        raise CheckFailed(f"6 images should give logits of shape (6, {num_classes}), got {tuple(shape)}")
    if not bool(actual["backbone_frozen"]):
        raise CheckFailed("some parameters of backbone.features still have requires_grad=True: freeze them all")
    channels = int(actual["feature_channels"])
    want = channels * num_classes + num_classes
    if int(actual["trainable"]) != want:
        raise CheckFailed(f"{int(actual['trainable']):,} trainable parameters; a linear probe trains only a new "
                          f"nn.Linear({channels}, {num_classes}): {want:,} parameters")
    moved = list(actual["frozen_moved"])
    if moved:
        buffers = [k for k in moved if "running_" in k or "num_batches_tracked" in k]
        why = (" BatchNorm updates its running statistics whenever the model runs in training mode, and fit() calls "
               "model.train() every epoch: keep the frozen features in eval mode even then." if buffers else "")
        raise CheckFailed(f"a short probe training (model.train(), two SGD steps) changed {len(moved)} tensors that "
                          f"should stay frozen, e.g. {', '.join(moved[:3])}; only the new linear head may learn.{why}")


def run_finetune_param_groups(fn, args) -> dict:
    """Build an SGD optimizer from the student's groups; report each named parameter's learning rate."""
    import torch

    backbone_lr, head_lr, width, seed = args
    model = _probe_backbone(width, seed)
    groups = fn(model, backbone_lr, head_lr)
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, dict) and "params" in g for g in groups):
        raise TypeError("finetune_param_groups must return a list of dicts {'params': [...], 'lr': ...}")
    optimizer = torch.optim.SGD(groups, lr=1e-9)  # a parameter listed twice raises here
    lr_of = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            lr_of[id(p)] = float(group["lr"])
    return {"lrs": [lr_of.get(id(p), 0.0) for _, p in model.named_parameters()]}


def finetune_param_groups_reference(backbone_lr: float, head_lr: float, width: int, seed: int) -> dict:
    """Every parameter of ``model.head`` at ``head_lr``, every other one at ``backbone_lr``."""
    model = _probe_backbone(width, seed)
    return {"lrs": [head_lr if name.startswith("head.") else backbone_lr for name, _ in model.named_parameters()]}


# --------------------------------------------------------------------------- metric learning


def triplet_inputs(rng: np.random.Generator, n: int, d: int, margin: float, scale: float = 1.0) -> tuple:
    """``(anchor, positive, negative, margin)``: three (n, d) float32 arrays."""
    a, p, q = (rng.normal(scale=scale, size=(n, d)).astype(np.float32) for _ in range(3))
    return a, p, q, margin


def run_triplet_loss(fn, args):
    """The student's loss on float32 tensors, and its gradient with respect to the anchors."""
    import torch

    anchor, positive, negative, margin = (torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args)
    anchor = anchor.clone().requires_grad_()
    loss = fn(anchor, positive, negative, margin)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError("triplet_loss must return a tensor with one number (the mean over the batch)")
    loss.backward()
    if anchor.grad is None:
        raise TypeError("no gradient reached the anchors: compute the loss with torch operations, without .detach()")
    return {"loss": loss.detach().reshape(()), "anchor_grad": anchor.grad}


def triplet_loss_reference(anchor, positive, negative, margin) -> dict:
    import torch
    from torch import nn

    a = torch.from_numpy(anchor).requires_grad_()
    loss = nn.TripletMarginLoss(margin=margin, p=2, eps=0.0)(a, torch.from_numpy(positive), torch.from_numpy(negative))
    loss.backward()
    return {"loss": loss.detach(), "anchor_grad": a.grad}


def retrieval_inputs(rng: np.random.Generator, n_query: int, n_gallery: int, d: int, classes: int, ks: tuple,
                     spread: float = 1.0) -> tuple:
    """``(query, query_labels, gallery, gallery_labels, ks)``: clustered embeddings, one cluster per class."""
    centres = rng.normal(size=(classes, d)) * 2.0
    ql, gl = rng.integers(0, classes, n_query), rng.integers(0, classes, n_gallery)
    q = centres[ql] + spread * rng.normal(size=(n_query, d))
    g = centres[gl] + spread * rng.normal(size=(n_gallery, d))
    return q.astype(np.float32), ql, g.astype(np.float32), gl, tuple(ks)


def recall_at_k_reference(query, query_labels, gallery, gallery_labels, ks) -> np.ndarray:
    """Brute force with scikit-learn: for each k, the fraction of queries with a same-label item among their k
    nearest gallery items (Euclidean distance)."""
    from sklearn.neighbors import NearestNeighbors

    nn_ = NearestNeighbors(n_neighbors=max(ks), algorithm="brute").fit(np.asarray(gallery, np.float64))
    _, idx = nn_.kneighbors(np.asarray(query, np.float64))
    hits = np.asarray(gallery_labels)[idx] == np.asarray(query_labels)[:, None]
    return np.array([hits[:, :k].any(axis=1).mean() for k in ks])


def run_recall_at_k(fn, args):
    query, query_labels, gallery, gallery_labels, ks = args
    return np.asarray(fn(query, query_labels, gallery, gallery_labels, ks), dtype=np.float64)


# --------------------------------------------------------------------------- what each task must not use

#: ResNet blocks ready-made: the course's own (``PlainBlock`` is a ``BasicBlock``), torchvision's.
_RESNET_BLOCKS = ("cvcourse_utils.models.BasicBlock", "cvcourse_utils.models.PlainBlock", "cvcourse_utils.models._shortcut",
                  "torchvision.models", "torchvision.models.resnet.BasicBlock", "torchvision.models.resnet.Bottleneck")
#: torchvision's ready-made layers (``Conv2dNormActivation``, ``SqueezeExcitation``, ...), under both their names.
_TORCHVISION_LAYERS = ("torchvision.models", "torchvision.ops.misc", "torchvision.ops.Conv2dNormActivation",
                       "torchvision.ops.SqueezeExcitation", "torchvision.ops.misc.Conv2dNormActivation",
                       "torchvision.ops.misc.SqueezeExcitation")
#: FLOP counters: PyTorch's own and the usual libraries (listed whether or not they are installed).
_FLOP_COUNTERS = ("torch.utils.flop_counter", "torch.profiler", "torch.autograd.profiler", "torch.autograd.profiler_util",
                  "fvcore", "thop", "ptflops", "torchinfo", "torchprofile", "torchsummary", "calflops", "deepspeed.profiling")
#: The triplet loss and the hinge losses that are the same formula once the distances are known.
_TRIPLET_LOSSES = ("torch.nn.TripletMarginLoss", "torch.nn.TripletMarginWithDistanceLoss",
                   "torch.nn.functional.triplet_margin_loss", "torch.nn.functional.triplet_margin_with_distance_loss",
                   "torch.triplet_margin_loss", "torch.nn.MarginRankingLoss", "torch.nn.functional.margin_ranking_loss",
                   "torch.margin_ranking_loss", "torch.nn.HingeEmbeddingLoss", "torch.nn.functional.hinge_embedding_loss",
                   "torch.hinge_embedding_loss", "pytorch_metric_learning")
#: Nearest-neighbour search and retrieval metrics ready-made.
_NEIGHBOURS = ("sklearn.neighbors", "sklearn.metrics.pairwise_distances_argmin", "sklearn.metrics.pairwise_distances_argmin_min",
               "scipy.spatial.KDTree", "scipy.spatial.cKDTree", "torchmetrics.retrieval", "torchmetrics.functional.retrieval",
               "torchmetrics.retrieval.RetrievalRecall", "torchmetrics.functional.retrieval_recall", "faiss",
               "pytorch_metric_learning")


# --------------------------------------------------------------------------- tasks, in notebook order

TASKS = (
    Task(
        name="basic_block",
        function="BasicBlock",
        cases=(
            Case("16 -> 16 channels, stride 1 (identity shortcut), 2x16x8x8",
                 lambda rng: block_inputs(rng, 16, 16, 1, 2, 16 // 2, 8)),
            Case("8 -> 16 channels, stride 2 (projection shortcut), 3x8x9x9",
                 lambda rng: block_inputs(rng, 8, 16, 2, 3, 9, 9, seed=1), seed=1),
        ),
        reference=_block_expected(reference_basic_block),
        compare=compare_block,
        call=_block_runner(reference_basic_block),
        forbidden=_RESNET_BLOCKS,
        by_hand="build the two convolutions, the BatchNorms and the shortcut yourself from nn.Conv2d and nn.BatchNorm2d",
    ),
    Task(
        name="bottleneck_block",
        function="Bottleneck",
        cases=(
            Case("64 -> 16 planes (64 out), stride 1 (identity shortcut), 2x64x6x6",
                 lambda rng: block_inputs(rng, 64, 16, 1, 2, 6, 6)),
            Case("32 -> 8 planes (32 out), stride 2, 2x32x8x8: the 3x3 conv strides, the shortcut projects",
                 lambda rng: block_inputs(rng, 32, 8, 2, 2, 8, 8, seed=1), seed=1),
            Case("16 -> 8 planes (32 out), stride 1 (projection for the channels)",
                 lambda rng: block_inputs(rng, 16, 8, 1, 2, 5, 5, seed=2), seed=2),
        ),
        reference=_block_expected(reference_bottleneck_block),
        compare=compare_block,
        call=_block_runner(reference_bottleneck_block),
        forbidden=_RESNET_BLOCKS,
        by_hand="build the 1x1, 3x3 and 1x1 convolutions, the BatchNorms and the shortcut yourself from nn.Conv2d and nn.BatchNorm2d",
    ),
    Task(
        name="depthwise_separable_block",
        function="DepthwiseSeparable",
        cases=(
            Case("8 -> 16 channels, stride 1, 2x8x7x7", lambda rng: block_inputs(rng, 8, 16, 1, 2, 7, 7)),
            Case("16 -> 32 channels, stride 2, 2x16x8x8", lambda rng: block_inputs(rng, 16, 32, 2, 2, 8, 8, seed=1), seed=1),
        ),
        reference=_block_expected(reference_depthwise_separable),
        compare=compare_block,
        call=_block_runner(reference_depthwise_separable),
        forbidden=_TORCHVISION_LAYERS,
        by_hand="build the depthwise and pointwise convolutions with their BatchNorms yourself from nn.Conv2d and nn.BatchNorm2d",
    ),
    Task(
        name="squeeze_excitation",
        function="SqueezeExcitation",
        cases=(
            Case("16 channels squeezed to 4, 2x16x5x5", lambda rng: block_inputs(rng, 16, 4, 1, 2, 5, 5)),
            Case("24 channels squeezed to 6, 3x24x4x6", lambda rng: block_inputs(rng, 24, 6, 1, 3, 4, 6, seed=1), seed=1),
        ),
        reference=_block_expected(reference_squeeze_excitation),
        compare=compare_block,
        call=_block_runner(reference_squeeze_excitation),
        forbidden=_TORCHVISION_LAYERS,
        by_hand="write the squeeze (a mean over the image) and the excitation (fc1, ReLU, fc2, sigmoid gate) yourself",
    ),
    Task(
        name="conv_flops",
        function="conv_flops",
        cases=(
            Case("3 -> 16 channels, 3x3, stride 1, pad 1, bias, 32x32", lambda rng: (3, 16, 3, 1, 1, 1, True, 32, 32)),
            Case("64 -> 128 channels, 1x1, stride 2, no bias, 16x16", lambda rng: (64, 128, 1, 2, 0, 1, False, 16, 16)),
            Case("32 -> 32 channels, 3x3 depthwise (groups 32), pad 1, 14x14",
                 lambda rng: (32, 32, 3, 1, 1, 32, False, 14, 14)),
        ),
        reference=conv_flops_reference,
        compare=equal(),
        forbidden=("torch.nn.Conv2d", "torch.nn.modules.conv", "torch.nn.functional.conv2d", "torch.conv2d", *_FLOP_COUNTERS),
        by_hand="work out the output size, the FLOPs and the parameters from the formulas yourself (no layer built, nothing measured)",
    ),
    Task(
        name="network_flops",
        function="network_flops",
        cases=(
            Case("LeNet-5 on 1x32x32", lambda rng: ("lenet5", (1, 32, 32))),
            Case("SmallCNN (width 8) on 3x32x32", lambda rng: ("small_cnn", (3, 32, 32))),
            Case("a depthwise-separable stack with a linear head on 3x16x16", lambda rng: ("depthwise_stack", (3, 16, 16))),
        ),
        reference=network_flops_reference,
        compare=equal(),
        call=run_network_flops,
        forbidden=_FLOP_COUNTERS,
        by_hand="count the FLOPs of each nn.Conv2d and nn.Linear yourself, with your conv_flops and forward hooks",
    ),
    Task(
        name="linear_probe_model",
        function="linear_probe_model",
        cases=(
            Case("5 new classes on a width-8 CifarResNet", lambda rng: (5, 8, 0)),
            Case("3 new classes on a width-4 CifarResNet", lambda rng: (3, 4, 1)),
        ),
        reference=None,
        compare=compare_linear_probe_model,
        call=run_linear_probe_model,
        forbidden=(),
        by_hand=("freeze the backbone's features and add the new linear head yourself (a few lines of PyTorch; no library "
                 "call does it, so only the course's own checks are off limits)"),
    ),
    Task(
        name="finetune_param_groups",
        function="finetune_param_groups",
        cases=(
            Case("backbone lr 1e-4, head lr 1e-2", lambda rng: (1e-4, 1e-2, 8, 0)),
            Case("backbone lr 3e-4, head lr 3e-3", lambda rng: (3e-4, 3e-3, 4, 1)),
        ),
        reference=finetune_param_groups_reference,
        compare=close(atol=0.0, rtol=1e-12),
        call=run_finetune_param_groups,
        forbidden=(),
        by_hand=("split the parameters into the two groups yourself (no library call does it, so only the course's "
                 "own checks are off limits)"),
    ),
    Task(
        name="triplet_loss",
        function="triplet_loss",
        cases=(
            Case("8 triplets of 4-d embeddings, margin 1.0", lambda rng: triplet_inputs(rng, 8, 4, 1.0)),
            Case("16 triplets of 32-d embeddings, margin 0.2 (many satisfied)",
                 lambda rng: triplet_inputs(rng, 16, 32, 0.2, scale=0.3), seed=1),
        ),
        reference=triplet_loss_reference,
        compare=close(atol=1e-5, rtol=1e-4),
        call=run_triplet_loss,
        forbidden=_TRIPLET_LOSSES,
        by_hand="compute the two distances and the hinge max(0, d(a, p) - d(a, n) + margin) yourself",
    ),
    Task(
        name="recall_at_k",
        function="recall_at_k",
        cases=(
            Case("20 queries, 50 gallery items, 4 classes, k = 1, 5",
                 lambda rng: retrieval_inputs(rng, 20, 50, 8, 4, (1, 5), spread=1.5)),
            Case("30 queries, 40 gallery items, 6 classes, k = 1, 2, 10",
                 lambda rng: retrieval_inputs(rng, 30, 40, 16, 6, (1, 2, 10), spread=2.5), seed=1),
        ),
        reference=recall_at_k_reference,
        compare=close(atol=1e-9, rtol=0),
        call=run_recall_at_k,
        forbidden=_NEIGHBOURS,
        by_hand="compute the distances, find each query's nearest gallery items and count the hits yourself",
    ),
)
