"""One module per ``python -m kiln_sae`` command."""
