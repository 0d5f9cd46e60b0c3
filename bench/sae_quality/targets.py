"""When a training curve first reaches a target EV: in training seconds, or in tokens (never extrapolated)."""
from __future__ import annotations


def time_to(curve: list[dict], target: float) -> float | None:
    """Training seconds at which the curve first reaches ``target`` (linear between points); None if never."""
    prev = {"train_s": 0.0, "explained_variance": float("-inf")}
    for p in curve:
        if p["explained_variance"] >= target:
            if prev["explained_variance"] == float("-inf"):
                return p["train_s"]
            frac = (target - prev["explained_variance"]) / (p["explained_variance"] - prev["explained_variance"])
            return prev["train_s"] + frac * (p["train_s"] - prev["train_s"])
        prev = p
    return None


def tokens_to(curve: list[dict], target: float) -> float | None:
    """Tokens at which the curve first reaches ``target`` (linear between points); None if never."""
    return time_to([{"train_s": p["tokens"], "explained_variance": p["explained_variance"]} for p in curve], target)
