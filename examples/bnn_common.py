"""What the Bayesian neural network examples share: data, the network, the
linear baseline, the predictive metrics and the learning-curve picture.

The data set is scikit-learn's bundled diabetes regression data (442
patients, 10 features, a disease-progression score), so the examples run
offline; scikit-learn is an extra of the examples and tests.
"""

import math

import numpy as np
from common import sklearn_split

__all__ = [
    "HIDDEN",
    "load_diabetes_split",
    "mlp",
    "ols_baseline",
    "predictive_metrics",
    "plot_learning_curves",
]

HIDDEN = 50  # one hidden layer of 50 ReLU units


def load_diabetes_split(test_fraction=0.1, split_seed=0):
    """Diabetes data, split once at random (seeded) and standardised with the
    training statistics.

    Returns a dict with ``x_train``, ``y_train``, ``x_test``, ``y_test``
    (float32, standardised), ``y_mean``/``y_std`` (to go back to the original
    units), and the raw float64 arrays ``raw_x_train`` ... ``raw_y_test``.
    """
    _, x, y, train, test, x_mean, x_std = sklearn_split(
        "load_diabetes", test_fraction, split_seed, "the BNN examples")
    y_mean, y_std = y[train].mean(), y[train].std()
    return {
        "x_train": ((x[train] - x_mean) / x_std).astype(np.float32),
        "y_train": ((y[train] - y_mean) / y_std).astype(np.float32),
        "x_test": ((x[test] - x_mean) / x_std).astype(np.float32),
        "y_test": ((y[test] - y_mean) / y_std).astype(np.float32),
        "y_mean": float(y_mean),
        "y_std": float(y_std),
        "raw_x_train": x[train], "raw_y_train": y[train],
        "raw_x_test": x[test], "raw_y_test": y[test],
    }


def _dense(w, h):
    """``w @ h`` for w [..., n_out, n_in] and h [..., n_in, B] as a broadcast
    product and a sum: on Jittor's CPU backend this is several times faster
    than jt.matmul at these sizes (and broadcasts any leading axes)."""
    return (w.unsqueeze(-1) * h.unsqueeze(-3)).sum(-2)


def mlp(x, w1, w2):
    """The network's output for inputs x [B, D] and weights with any leading
    (particle or chain) axes: w1 [..., HIDDEN, D + 1], w2 [..., 1, HIDDEN + 1],
    the last column of each being the bias. Each layer divides by
    sqrt(fan_in), so N(0, 1) weights are a standard scaled prior. Returns
    [..., B]."""
    import jittor as jt

    h = jt.concat([x, jt.ones([x.shape[0], 1], x.dtype)], 1).transpose()  # [D+1, B]
    h = jt.nn.relu(_dense(w1, h) / math.sqrt(w1.shape[-1]))  # [..., H, B]
    ones = jt.ones(list(h.shape[:-2]) + [1, h.shape[-1]], h.dtype)
    h = jt.concat([h, ones], -2)  # [..., H+1, B]
    return (_dense(w2, h) / math.sqrt(w2.shape[-1])).squeeze(-2)


def ols_baseline(data):
    """Ordinary least squares with an intercept on the standardised training
    data; test RMSE in the original units and the test log-likelihood per
    point of the plug-in Gaussian predictive (noise variance RSS / (n - p))."""
    x, y = data["x_train"].astype(np.float64), data["y_train"].astype(np.float64)
    design = np.hstack([x, np.ones((len(x), 1))])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    noise_var = resid @ resid / (len(y) - design.shape[1])
    pred = np.hstack([data["x_test"], np.ones((len(data["x_test"]), 1))]) @ coef
    err = (pred - data["y_test"]) * data["y_std"]
    var = noise_var * data["y_std"] ** 2
    ll = -0.5 * np.log(2 * np.pi * var) - err**2 / (2 * var)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "ll": float(ll.mean()),
            "noise_std": float(np.sqrt(var))}


def predictive_metrics(y_mean, y_logstd, data):
    """Test RMSE and log-likelihood of the posterior predictive, in the
    original units.

    ``y_mean`` [S, n_test] are the network's outputs under S posterior
    draws (particles of q, or MCMC samples), ``y_logstd`` their noise
    log-scales (broadcastable to [S, 1]), both standardised. The predictive
    density of a test point is the mixture (1/S) sum_s N(y; mean_s, std_s^2);
    its log is a log-mean-exp over s (computed in float64), and changing to
    the original units subtracts log(y_std). The RMSE is that of the
    predictive mean.
    """
    y_mean = np.asarray(y_mean, np.float64)
    logstd = np.broadcast_to(np.asarray(y_logstd, np.float64).reshape(-1, 1),
                             (y_mean.shape[0], 1))
    y = np.asarray(data["y_test"], np.float64)
    log_n = (-0.5 * math.log(2 * math.pi) - logstd
             - 0.5 * ((y - y_mean) * np.exp(-logstd)) ** 2)  # [S, n_test]
    top = log_n.max(0)
    log_pred = top + np.log(np.mean(np.exp(log_n - top), 0)) - math.log(data["y_std"])
    rmse = math.sqrt(np.mean((y_mean.mean(0) - y) ** 2)) * data["y_std"]
    return {"rmse": float(rmse), "ll": float(log_pred.mean())}


def plot_learning_curves(rmse, ll, baseline, path, title, x_label="epoch"):
    """Test RMSE and log-likelihood per epoch, with the OLS baseline as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(rmse) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, values, key, label in ((axes[0], rmse, "rmse", "test RMSE"),
                                   (axes[1], ll, "ll", "test log-likelihood / point")):
        ax.plot(epochs, values, marker="o" if len(values) <= 60 else None,
                markersize=3, label="BNN")
        ax.axhline(baseline[key], color="tab:red", linestyle="--",
                   label="linear regression (OLS)")
        ax.set_xlabel(x_label)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
