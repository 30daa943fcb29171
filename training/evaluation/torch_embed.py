"""A torch network as an embed-crops callable with the service's contract: normalised input, orig+flip, L2."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from service.vision.embedder import preprocess_with_flips
from training.evaluation.features import EmbedCrops


def network_embedder(net: nn.Module, device: str | torch.device = "cpu") -> EmbedCrops:
    """Wrap a (N, 3, 112, 96) -> (N, F) network so it embeds uint8 crops exactly as the ONNX embedder does.

    The network runs in eval mode (BatchNorm statistics frozen) and is put back in its previous mode,
    so a training loop can evaluate between epochs.
    """

    def embed(crops: np.ndarray) -> np.ndarray:
        both = torch.from_numpy(preprocess_with_flips(crops)).to(device)
        was_training = net.training
        net.eval()
        try:
            with torch.inference_mode():
                feats = net(both).float()
        finally:
            net.train(was_training)
        n = len(crops)
        fused = torch.nn.functional.normalize(torch.cat([feats[:n], feats[n:]], dim=1), dim=1)
        return fused.cpu().numpy()

    return embed
