"""BOHB tuning of the one-shot methods with HpBandSter: ConfigSpaces, worker, master, entry."""
