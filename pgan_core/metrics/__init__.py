"""Evaluation metrics: FID, KID, IS on domain-classifier or TF-Inception features.

* :mod:`.frechet`          FID from float64 statistics, eigenvalue trace (TTUR, arXiv:1706.08500)
* :mod:`.kid`              KID, unbiased MMD^2 with a cubic kernel (Binkowski et al. 2018, arXiv:1801.01401)
* :mod:`.inception_score`  IS from logits (Salimans et al. 2016, arXiv:1606.03498)
* :mod:`.inception`        the TF "inception-2015-12-05" pool_3 network (TorchScript, offline)
* :mod:`.domain`           small per-dataset classifier trained and cached by the project
* :mod:`.evaluate`         protocol keys ('fid5k_domain', 'kid500_inception', ...) and :class:`Evaluator`
* :mod:`.sid`              signed inception distance of Spider GAN (Asokan & Seelamantula 2023, arXiv:2305.07613)
"""
from .domain import DomainClassifier, DomainExtractor, load_domain_extractor
from .evaluate import Evaluator, Protocol, parse_protocol, protocol_key
from .frechet import feature_stats, fid_from_features, fid_from_stats
from .inception import InceptionFeatures, TorchFidelityInception, inception_logits_available, inception_path
from .inception_score import inception_score
from .kid import kid
from .sid import SIDResult, sid_table, signed_inception_distance

__all__ = [
    "fid_from_stats", "feature_stats", "fid_from_features", "kid", "inception_score",
    "parse_protocol", "protocol_key", "Protocol", "Evaluator",
    "load_domain_extractor", "DomainExtractor", "DomainClassifier",
    "InceptionFeatures", "TorchFidelityInception", "inception_path", "inception_logits_available",
    "SIDResult", "sid_table", "signed_inception_distance",
]
