"""The five book assets, one thin module per stage: read the typed inputs, call the stage, report."""
