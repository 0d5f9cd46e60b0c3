"""PII detection on SAE latents: labelled chat data, token alignment, probes, span evaluation, detector."""
