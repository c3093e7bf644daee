"""Lab 12 (self-supervised learning): a ready-made answer to each task earns 0, in the check and in the grader.

The self-supervised libraries the lists name (lightly, timm, transformers' ViTMAE, ...) are not installed here, so
the shortcuts go through what is: the course's own views, probing and toy-CLIP code, scikit-learn, torch's one-line
losses and moving averages, and the check's own references.
"""
from taught_shortcuts import assert_shortcuts_earn_zero

SHORTCUTS = {
    "augment_views": (
        "from cvcourse_utils.views import two_views\n"
        "def augment_views(x, seed):\n"
        "    return two_views(x, seed=seed)\n"),
    "nt_xent_loss": (
        "import torch\n"
        "import torch.nn.functional as F\n"
        "def nt_xent_loss(z1, z2, temperature):\n"
        "    n = len(z1)\n"
        "    z = F.normalize(torch.cat([z1, z2]), dim=1)\n"
        "    logits = (z @ z.T / temperature).fill_diagonal_(float('-inf'))\n"
        "    return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))\n"),
    "simclr_step": (  # the toy CLIP's contrastive loss (module 06) in place of the student's own
        "from cvcourse_utils.clip import clip_contrastive_loss\n"
        "import torch.nn.functional as F\n"
        "def simclr_step(encoder, head, optimizer, view1, view2, temperature):\n"
        "    z1, z2 = F.normalize(head(encoder(view1)), dim=1), F.normalize(head(encoder(view2)), dim=1)\n"
        "    loss = clip_contrastive_loss(z1 @ z2.T / temperature)\n"
        "    optimizer.zero_grad(); loss.backward(); optimizer.step()\n"
        "    return loss.item()\n"),
    "knn_classify": (
        "import numpy as np\n"
        "import torch\n"
        "from sklearn.neighbors import KNeighborsClassifier\n"
        "def knn_classify(train_z, train_y, test_z, k, temperature):\n"
        "    knn = KNeighborsClassifier(k, metric='cosine', weights=lambda d: np.exp((1 - d) / temperature))\n"
        "    return torch.from_numpy(knn.fit(train_z.numpy(), train_y.numpy()).predict(test_z.numpy()))\n"),
    "linear_probe_accuracy": (
        "from sklearn.linear_model import LogisticRegression\n"
        "def linear_probe_accuracy(train_z, train_y, test_z, test_y, steps=300, lr=0.05):\n"
        "    return LogisticRegression(max_iter=steps).fit(train_z, train_y).score(test_z, test_y)\n"),
    "embedding_spread": (
        "from cvcourse_utils.probing import embedding_stats\n"
        "def embedding_spread(z):\n"
        "    stats = embedding_stats(z)\n"
        "    return stats.std.double(), stats.effective_rank\n"),
    "is_collapsed_embedding": (
        "import cvcourse_utils.probing as probing\n"
        "def is_collapsed_embedding(z, min_std_ratio=0.03, min_rank=2.0):\n"
        "    return probing.is_collapsed(z, min_std_ratio=min_std_ratio, min_effective_rank=min_rank)\n"),
    "ema_update": (
        "import torch\n"
        "def ema_update(teacher, student, momentum):\n"
        "    with torch.no_grad():\n"
        "        for t, s in zip(teacher.parameters(), student.parameters()):\n"
        "            t.lerp_(s, 1 - momentum)\n"),
    "dino_loss": (
        "import torch\n"
        "import torch.nn.functional as F\n"
        "def dino_loss(student_out, teacher_out, center, student_temp=0.1, teacher_temp=0.04):\n"
        "    p = torch.softmax((teacher_out - center) / teacher_temp, dim=-1).detach()\n"
        "    terms = [F.cross_entropy(student_out[j] / student_temp, p[i]) for i in range(len(p))\n"
        "             for j in range(len(student_out)) if i != j]\n"
        "    return torch.stack(terms).mean()\n"),
    "update_center": (
        "import torch\n"
        "def update_center(center, teacher_out, momentum=0.9):\n"
        "    return torch.lerp(teacher_out.reshape(-1, teacher_out.shape[-1]).mean(0), center, momentum)\n"),
    "random_masking": (  # the check's own reference
        "from cvcourse_utils.labchecks.lab12 import _masking_reference\n"
        "def random_masking(x, mask_ratio, generator=None):\n"
        "    return _masking_reference(x, mask_ratio, generator.initial_seed())\n"),
    "mae_loss": (
        "import torch\n"
        "from cvcourse_utils.labchecks import lab12\n"
        "def mae_loss(pred, target, mask, norm_pix=False):\n"
        "    return torch.tensor(lab12._mae_loss_reference(pred.numpy(), target.numpy(), mask.numpy(), norm_pix))\n"),
}

MORE_SHORTCUTS = {  # other ways in: a loss module, a re-export, a helper of the student's, a tensor method
    "nt_xent_loss": (
        "import torch\n"
        "from torch import nn\n"
        "loss_fn = nn.CrossEntropyLoss()\n"
        "def nt_xent_loss(z1, z2, temperature):\n"
        "    n = len(z1)\n"
        "    z = torch.cat([z1, z2])\n"
        "    z = z / z.norm(dim=1, keepdim=True)\n"
        "    logits = (z @ z.T / temperature).fill_diagonal_(float('-inf'))\n"
        "    return loss_fn(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))\n"),
    "dino_loss": (
        "import torch\n"
        "def helper(log_p, target):\n"
        "    return torch.nn.functional.kl_div(log_p, target, reduction='batchmean')\n"
        "def dino_loss(student_out, teacher_out, center, student_temp=0.1, teacher_temp=0.04):\n"
        "    p = torch.softmax((teacher_out - center) / teacher_temp, dim=-1).detach()\n"
        "    log_p = torch.log_softmax(student_out / student_temp, dim=-1)\n"
        "    return torch.stack([helper(log_p[j], p[i]) for i in range(2) for j in range(len(log_p)) if i != j]).mean()\n"),
    "ema_update": (
        "from torch.optim.swa_utils import get_ema_multi_avg_fn\n"
        "def ema_update(teacher, student, momentum):\n"
        "    get_ema_multi_avg_fn(momentum)(list(teacher.parameters()), list(student.parameters()), None)\n"),
    "augment_views": (  # the course's view transform, composed by someone else
        "import torch\n"
        "from cvcourse_utils import views\n"
        "def augment_views(x, seed):\n"
        "    torch.manual_seed(seed)\n"
        "    t = views.view_transform(x.shape[-1])\n"
        "    return torch.stack([t(i) for i in x]), torch.stack([t(i) for i in x])\n"),
}


def test_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab12", SHORTCUTS, capsys)


def test_more_shortcuts_earn_zero(capsys):
    assert_shortcuts_earn_zero("lab12", {**SHORTCUTS, **MORE_SHORTCUTS}, capsys)
