"""In silico trials: trial files, arms, randomisation, dropout, outcomes and effect sizes."""
