"""The elementwise families of the generic fused op ``family_log_prob``.

The table must match ``csrc/include/zhusuan/families.h`` (the ``families()``
function of the native extension returns the same; a test checks it).
"""

__all__ = ["FAMILIES"]

# Each family's parameter names, in the kernels' order (families.h).
FAMILIES = {
    "Laplace": ("loc", "scale"),
    "Logistic": ("loc", "scale"),
    "Exponential": ("rate",),
    "HalfNormal": ("logstd",),
    "FoldNormal": ("mean", "logstd"),
    "LogNormal": ("mean", "logstd"),
    "Uniform": ("minval", "maxval"),
    "Poisson": ("log_rate",),
    "Geometric": ("logits",),
    "Binomial": ("logits", "n_experiments"),
    "Gamma": ("alpha", "beta"),
    "Beta": ("alpha", "beta"),
    "StudentT": ("df", "loc", "scale"),
    "Cauchy": ("loc", "scale"),
    "HalfCauchy": ("scale",),
    "InverseGamma": ("alpha", "beta"),
}
