"""REINFORCE (Williams, 1992) with a simple policy over the space's ConfigSpace.

The policy holds one vector of logits per categorical hyperparameter (each op and each parent
set with a choice), all zero at the start (uniform). Each step samples a configuration from the
softmax of the logits, queries it at the largest epoch budget, takes the reward = 1 - selection
error, and moves the logits by `learning_rate * (reward - baseline) * (one_hot - probabilities)`,
the gradient of the log-probability of the sample. The baseline is an exponential moving average
of the rewards (`baseline_momentum`), started at the first reward.
"""

from __future__ import annotations

import numpy as np

from nasbench1shot1.blackbox.base import fraction, positive, register


@register("reinforce", learning_rate=positive, baseline_momentum=fraction)
def reinforce(objective, params: dict, seed: int, run_dir) -> None:
    rng = np.random.default_rng(seed)
    space = objective.space
    choices = {hp.name: list(hp.choices) for hp in space.configspace().values()}
    logits = {name: np.zeros(len(options)) for name, options in choices.items()}
    baseline = None
    while True:
        picks, probabilities = {}, {}
        for name, values in logits.items():
            p = np.exp(values - values.max())
            p /= p.sum()
            probabilities[name] = p
            picks[name] = int(rng.choice(len(p), p=p))
        config = {name: str(choices[name][i]) for name, i in picks.items()}
        reward = 1.0 - objective.evaluate(space.from_config(config))
        baseline = reward if baseline is None else baseline
        advantage = reward - baseline
        for name, i in picks.items():
            gradient = -probabilities[name]
            gradient[i] += 1.0
            logits[name] += params["learning_rate"] * advantage * gradient
        momentum = params["baseline_momentum"]
        baseline = momentum * baseline + (1.0 - momentum) * reward
