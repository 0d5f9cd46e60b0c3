"""Early stopping fires exactly when the rule says: ≥ min_epochs done and `patience` epochs in a row without a
relative improvement larger than `delta`."""
from kiln_sae.early_stopping import EarlyStopping


def first_stop(losses, **kw):
    es = EarlyStopping(**kw)
    for epoch, loss in enumerate(losses):
        decision = es.update(epoch, loss)
        if decision is not None:
            return epoch, decision
    return None, None


def test_stops_after_patience_epochs_without_improvement():
    epoch, d = first_stop([1.0, 0.9, 0.95, 0.91, 0.5], min_epochs=1, patience=2, delta=0.0)
    assert epoch == 3 and d.best_val_loss == 0.9 and d.best_epoch == 1
    assert "patience 2" in d.reason and "best 0.9" in d.reason


def test_improvement_must_exceed_relative_delta():
    # 0.995 is only 0.5% better than 1.0: with delta 1% it does not count as an improvement.
    epoch, d = first_stop([1.0, 0.995, 0.994], min_epochs=1, patience=2, delta=0.01)
    assert epoch == 2 and d.best_val_loss == 1.0
    assert first_stop([1.0, 0.98, 0.96], min_epochs=1, patience=1, delta=0.01) == (None, None)


def test_min_epochs_delays_the_stop():
    epoch, _ = first_stop([1.0, 1.0, 1.0, 1.0, 1.0], min_epochs=4, patience=1, delta=0.0)
    assert epoch == 3  # epochs 1 and 2 were already "bad", but only 4 completed epochs allow stopping


def test_never_fires_while_improving_and_state_round_trips():
    assert first_stop([5, 4, 3, 2, 1], min_epochs=0, patience=1, delta=0.0) == (None, None)
    es = EarlyStopping(1, 2, 0.0)
    es.update(0, 1.0)
    es.update(1, 1.1)
    clone = EarlyStopping(1, 2, 0.0)
    clone.load_state_dict(es.state_dict())
    assert clone.update(2, 1.2) is not None and es.update(2, 1.2) is not None


def test_trainer_emits_early_stop_and_publishes_the_sae(tmp_path):
    import json

    import torch

    from kiln_sae.batches import TensorSource
    from kiln_sae.config import load_config
    from kiln_sae.metrics import MetricsWriter
    from kiln_sae.trainer import Trainer

    g = torch.Generator().manual_seed(0)
    train, val = TensorSource(torch.randn(512, 8, generator=g)), TensorSource(torch.randn(128, 8, generator=g))
    # delta 0.99: only a 99% drop of the validation loss counts as an improvement, so epoch 2 is "bad" and
    # patience 1 stops training right after it, at step 2 epochs × 4 steps.
    cfg = load_config({"base_model": "m", "layer": 0, "output_dir": str(tmp_path), "latents": 32, "k": 4,
                       "epochs": 10, "batch_size": 128, "early_stopping": {"min_epochs": 1, "patience": 1,
                                                                            "delta": 0.99}})
    with MetricsWriter(tmp_path / "metrics.jsonl", echo=False) as metrics:
        result = Trainer(cfg, train, val, metrics=metrics).run()
    assert (result.reason, result.step) == ("early_stop", 8)
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    stop = next(m for m in lines if m["kind"] == "early_stop")
    assert stop["step"] == 8 and stop["best_epoch"] == 0 and "patience 1" in stop["reason"]
    assert [m["kind"] for m in lines[-4:]] == ["early_stop", "artifact", "artifact", "done"]
    assert lines[-1]["reason"] == "early_stop" and (tmp_path / "sae" / "sae.safetensors").exists()
