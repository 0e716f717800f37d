"""Detection math, pure Python and numpy (no Django, so the bench and the tests run it
directly; the math and the defaults are explained in docs/DETECTION.md): `chain` (a CUSUM
design's run length from its Markov chain, and its calibration), `cusum` (the bank of
CUSUMs that watches a rate), `shapes` (the distribution tests that watch a shape)."""
