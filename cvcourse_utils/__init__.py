"""cvcourse_utils: the small, shared toolbox every cvcourse notebook imports.

One concept per module:

- ``device``     where tensors live (CPU, CUDA, Apple MPS) and mixed precision
- ``seeding``    one call to make a run repeatable
- ``fast``       the fast mode that tests use to shrink sizes and epochs
- ``cache``      the one folder where datasets and trained models are kept
- ``datasets``   built-in datasets (shapes, digits, photos) and real ones (MNIST, CIFAR-10)
- ``plots``      figures: image grids, templates, filters, boxes, masks, curves
- ``training``   ``fit``, ``evaluate`` and ``predict``: the training loop every module shares
- ``pretrained`` models trained once and cached (``get_or_train``)
- ``gradcheck``  numerical gradients for checking backprop by hand
- ``models``     small networks that several notebooks use (LeNet-5, SmallCNN, CifarResNet)
- ``backbone``   the course-pretrained ResNet that modules 05-09 reuse
- ``vit``        a tiny Vision Transformer and its parts (patches, positions, blocks, attention rollout)
- ``clip``       the toy CLIP: image and text encoders trained on captioned shapes, zero-shot prompts
- ``segmentation`` FCN and U-Net, metrics from a confusion matrix, drawing masks over scenes
- ``judge``      the digits judge and the sample-quality measures (recognisable rate, coverage, FID)
- ``gan``        DCGAN generators and discriminators, plain and conditional, and their training step
- ``detection``  boxes, anchors, a one-stage detector, torchvision's two-stage models on the backbone, mAP
- ``attribution`` saliency, occlusion, Grad-CAM and friends through Captum, and heat maps over images
- ``adversarial`` FGSM and PGD attacks, accuracy under attack, adversarial training
- ``views``      self-supervised views: SimCLR's two-view augmentation and DINO's multi-crop (transforms v2)
- ``probing``    what frozen features are worth: linear probe, k-NN, and collapse diagnostics (effective rank)
- ``slides``     lectures as slides: RISE metadata and offline HTML decks
- ``execute``    running a notebook's cells in a fresh kernel (for the decks), widgets included
- ``lint``, ``scaffold``, ``loops``, ``timing``  authoring a module: the lint, ``new-module``, the loop check, fair timings
- ``diffusion``  noise schedules, a time-conditioned U-Net, DDPM/DDIM samplers and classifier-free guidance
- ``latent_diffusion`` a small latent text-to-image model on the captioned shapes, and its shape judge
- ``notebooks``  reading and writing notebooks as JupyterLab saves them; student labs from solutions
- ``jupyter_contents`` the contents manager ``make lab`` serves notebooks with (they open unchanged)
- ``hub``        teaching on JupyterHub: nbgitpuller links (``hub-link``) and collecting labs (``collect``)
- ``checking``   the ``check`` cells that give students instant feedback
- ``grading``    the sandboxed batch grader behind ``cvcourse grade``
- ``cli``        the ``cvcourse`` command
"""
from cvcourse_utils.checking import check
from cvcourse_utils.device import autocast, get_device
from cvcourse_utils.fast import fast_mode, per_mode
from cvcourse_utils.seeding import seed_everything

__all__ = ["autocast", "check", "fast_mode", "get_device", "per_mode", "seed_everything"]
__version__ = "0.1.0"
