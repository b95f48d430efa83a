"""crossrec: feedback-oriented multi-modal alignment (FETTLE, CROSS) as plug-in losses.

The package reproduces MMRec's data handling, sampling and evaluation exactly
(``docs/protocol.md``) and composes recommender backbones with alignment
plug-ins in a single trainer (:mod:`crossrec.train`).
"""

__version__ = "0.3.1"
