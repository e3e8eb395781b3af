"""ENAS (Pham et al., 2018): an LSTM controller samples a cell (an op per block, a parent set per
vertex with a choice) for every training step of the shared weights; every step it is trained
with REINFORCE on the shared weights' accuracy on one validation batch, with an entropy bonus and
a moving-average baseline. The epoch's architecture is the controller's most likely cell."""

from __future__ import annotations

import torch
from torch import nn

from nasbench1shot1.methods.base import Batch, OneShotMethod, register
from nasbench1shot1.nasbench.spec import AVAILABLE_OPS
from nasbench1shot1.spaces import Architecture


class Controller(nn.Module):
    """An LSTM that emits one categorical decision after another."""

    def __init__(self, choices: list[int], hidden: int, tanh_constant: float,
                 temperature: float):
        super().__init__()
        self.choices = choices
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.embeddings = nn.ModuleList(nn.Embedding(n, hidden) for n in choices)
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in choices)
        self.tanh_constant = tanh_constant
        self.temperature = temperature
        for p in self.parameters():
            nn.init.uniform_(p, -0.1, 0.1)

    def forward(self, generator: torch.Generator | None, greedy: bool = False):
        """Decisions, the sum of their log-probabilities and of their entropies."""
        h = c = torch.zeros_like(self.start)
        x = self.start
        decisions, log_prob, entropy = [], 0.0, 0.0
        for embedding, head in zip(self.embeddings, self.heads):
            h, c = self.lstm(x, (h, c))
            logits = self.tanh_constant * torch.tanh(head(h)[0] / self.temperature)
            probs = torch.softmax(logits, dim=-1)
            if greedy:
                choice = int(probs.argmax())
            else:
                choice = int(torch.multinomial(probs.detach().cpu(), 1, generator=generator))
            log_probs = torch.log_softmax(logits, dim=-1)
            log_prob = log_prob + log_probs[choice]
            entropy = entropy - (probs * log_probs).sum()
            decisions.append(choice)
            x = embedding(torch.tensor([choice], device=logits.device))
        return decisions, log_prob, entropy


@register("enas")
class ENAS(OneShotMethod):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.parent_vertices = self.space.vertices_with_parent_choice
        choices = [len(AVAILABLE_OPS)] * self.space.num_choice_blocks + [
            len(self.space.parent_options(v)) for v in self.parent_vertices
        ]
        self.controller = Controller(
            choices, self.cfg["controller_hidden"], self.cfg["tanh_constant"],
            self.cfg["temperature"],
        ).to(self.device)
        self.controller_optimizer = torch.optim.Adam(
            self.controller.parameters(), lr=self.cfg["controller_learning_rate"],
            betas=(0.0, 0.999),
        )
        self.baseline = 0.0  # as ENAS: starts at 0, moves towards the rewards

    def arch_parameters(self) -> list[torch.Tensor]:
        return list(self.controller.parameters())

    def decode(self, decisions: list[int]) -> Architecture:
        b = self.space.num_choice_blocks
        ops = tuple(AVAILABLE_OPS[i] for i in decisions[:b])
        chosen = dict(zip(self.parent_vertices, decisions[b:]))
        parents = tuple(
            self.space.parent_options(v)[chosen.get(v, 0)]
            for v in range(1, self.space.num_vertices)
        )
        return Architecture(ops, parents)

    def step(self, train: Batch, valid: Batch, optimizer, lr: float, grad_clip: float):
        with torch.no_grad():
            decisions, _, _ = self.controller(self.generator)
        result = self.weight_step(train, self.hard_weights(self.decode(decisions)), optimizer,
                                  grad_clip)
        self.controller_step(valid)
        return result

    def controller_step(self, valid: Batch) -> None:
        decisions, log_prob, entropy = self.controller(self.generator)
        self.model.eval()
        with torch.no_grad():
            logits = self.forward(valid.images, self.hard_weights(self.decode(decisions)))
            reward = float((logits.argmax(1) == valid.labels).float().mean())
        reward += self.cfg["entropy_weight"] * entropy.item()
        decay = self.cfg["baseline_decay"]
        self.baseline = decay * self.baseline + (1 - decay) * reward
        loss = -log_prob * (reward - self.baseline)
        self.controller_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.controller.parameters(), self.cfg["controller_grad_clip"])
        self.controller_optimizer.step()

    def discretize(self) -> Architecture:
        with torch.no_grad():
            decisions, _, _ = self.controller(None, greedy=True)
        return self.decode(decisions)

    def eval_weights(self):
        return self.hard_weights(self.discretize())

    def state_dict(self) -> dict:
        return {"controller": self.controller.state_dict(),
                "controller_optimizer": self.controller_optimizer.state_dict(),
                "baseline": self.baseline}

    def load_state_dict(self, state: dict) -> None:
        self.controller.load_state_dict(state["controller"])
        self.controller_optimizer.load_state_dict(state["controller_optimizer"])
        self.baseline = state["baseline"]

    def epoch_metrics(self) -> dict:
        return {"controller_baseline": self.baseline}

    def arch_summary(self) -> dict:
        arch = self.discretize()
        return {"greedy": {"ops": list(arch.ops), "parents": [list(p) for p in arch.parents]}}
