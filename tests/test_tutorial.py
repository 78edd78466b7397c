"""The tutorial's code, pasted as written, trains against our package.

The classes and the training loop below are the ones in
``shared/seed/vae_tutorial.txt`` (indentation restored), run on a small real
subset of binarised Fashion-MNIST. The oracle for "it trains" is the loss
itself: the average negative ELBO of the last steps must be well below that
of the first steps (at initialisation it is about 543 nats; after a hundred
Adam steps a VAE is typically below 400).
"""

import os

import zhusuan as zs
from zhusuan import BayesianNet

import jittor as jt
import numpy as np
import pytest
from jittor import nn

FASHION = "/usr/share/datasets/fashion-mnist"


class Generator(BayesianNet):
    def __init__(self, x_dim, z_dim, batch_size):
        super().__init__()
        self.x_dim = x_dim
        self.z_dim = z_dim
        self.batch_size = batch_size
        self.fc1 = nn.Linear(z_dim, 500)
        self.act1 = nn.Relu()
        self.fc2 = nn.Linear(500, 500)
        self.act2 = nn.Relu()
        self.fc2_ = nn.Linear(500, x_dim)
        self.act2_ = nn.Sigmoid()

    def execute(self, observed):
        self.observe(observed)
        mean = jt.zeros([self.batch_size, self.z_dim])
        std = jt.ones([self.batch_size, self.z_dim])
        z = self.sn('Normal',
                    name='z',
                    mean=mean,
                    std=std,
                    reparameterize=False,
                    reduce_mean_dims=[0],
                    reduce_sum_dims=[1])
        x_probs = self.act2_(self.fc2_(self.act2(self.fc2(self.act1(self.fc1(z))))))
        self.cache['x_mean'] = x_probs
        self.sn('Bernoulli',
                name='x',
                probs=x_probs,
                reduce_mean_dims=[0],
                reduce_sum_dims=[1])
        return self


class Variational(BayesianNet):
    def __init__(self, x_dim, z_dim, batch_size):
        super().__init__()
        self.x_dim = x_dim
        self.z_dim = z_dim
        self.batch_size = batch_size
        self.fc1 = nn.Linear(x_dim, 500)
        self.act1 = nn.Relu()
        self.fc2 = nn.Linear(500, 500)
        self.act2 = nn.Relu()
        self.fc3 = nn.Linear(500, z_dim)
        self.fc4 = nn.Linear(500, z_dim)
        self.dist = None

    def execute(self, observed):
        self.observe(observed)
        x = self.observed['x']
        z_logits = self.act2(self.fc2(self.act1(self.fc1(x))))
        z_mean = self.fc3(z_logits)
        z_std = jt.exp(self.fc4(z_logits))
        z = self.sn('Normal',  # noqa: F841  (the tutorial's code, verbatim)
                    name='z',
                    mean=z_mean,
                    std=z_std,
                    reparameterize=True,
                    reduce_mean_dims=[0],
                    reduce_sum_dims=[1])
        return self


# float(loss.numpy()) is the tutorial's own code; Jittor values are never 0-d.
@pytest.mark.filterwarnings("ignore:Conversion of an array with ndim > 0")
@pytest.mark.skipif(not os.path.isdir(FASHION),
                    reason="needs the Debian package dataset-fashion-mnist (make setup)")
def test_tutorial_vae_trains_on_real_data():
    jt.set_global_seed(0)
    (x_train, _), (x_test, _) = zs.datasets.load_fashion_mnist()
    x_train = zs.datasets.binarize_fixed(x_train[:64 * 120], seed=0)
    x_test = zs.datasets.binarize_fixed(x_test[:64], seed=0)
    x_dim, z_dim, batch_size = 784, 40, 64
    epoch_size, len_ = 1, len(x_train)
    num_batches = len_ // batch_size

    generator = Generator(x_dim, z_dim, batch_size)
    variational = Variational(x_dim, z_dim, batch_size)
    model = zs.variational.ELBO(generator, variational)
    optimizer = jt.optim.Adam(model.parameters(), 1e-3)

    losses = []
    for epoch in range(epoch_size):  # noqa: B007  (the tutorial's code, verbatim)
        for step in range(num_batches):
            x = jt.array(x_train[step * batch_size:min((step + 1) * batch_size, len_)])
            x = jt.reshape(x, [-1, x_dim])
            if x.shape[0] != batch_size:
                break
            loss = model({'x': x})
            optimizer.step(loss)
            losses.append(float(loss.numpy()))

    assert all(np.isfinite(losses))
    first, last = losses[0], np.mean(losses[-10:])
    assert first > 500, first  # an untrained VAE: about 784 log 2 = 543 nats
    assert last < first - 120, (first, last)
    assert last < np.mean(losses[10:20])  # still improving after the first drop

    # Random generations through the cache, as the tutorial does.
    cache = generator({}).cache
    sample_gen = cache['x_mean'].numpy()
    assert sample_gen.shape == (batch_size, x_dim)
    assert np.all((sample_gen >= 0) & (sample_gen <= 1))
    # The test bound is finite and also far above the untrained value.
    bound = float(model.bound({'x': jt.array(x_test)}).mean().item())
    assert -first < bound < 0
