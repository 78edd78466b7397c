"""Markov chain Monte Carlo.

Hamiltonian samplers: :class:`HMC` (ZhuSuan-TF's, ``sample(bn, observed,
latent)`` returning the new samples and an :class:`HMCInfo`) and
:class:`NUTS`, both with Stan's windowed warm-up and a ``run()`` driver, many
chains at once along a leading axis of the latents.

Stochastic-gradient samplers: :class:`SGMCMC` is the protocol
(``sample(bn, observed, resample, step)``); :class:`SGLD`, :class:`PSGLD`,
:class:`SGHMC` and :class:`SGNHT` implement it.

Upstream ZhuSuan-Jittor has the modules ``zhusuan.mcmc.SGMCMC`` and
``zhusuan.mcmc.SGLD``, and its ``__init__`` rebinds those names to the
classes. Importing a submodule for the first time sets it as an attribute of
the package, so the capitalised modules are imported first and the classes
bound after them: ``zhusuan.mcmc.SGLD`` is the class, and
``from zhusuan.mcmc.SGLD import SGLD`` still finds the module (it is in
``sys.modules``). The code lives in lower-case modules whose names differ
from the capitalised ones by more than case, so that the package also
installs on case-insensitive file systems.
"""

from __future__ import annotations

from . import SGLD as _sgld_module  # noqa: F401  (see above: must come first)
from . import SGMCMC as _sgmcmc_module  # noqa: F401
from .hmc import HMC, HMCInfo  # noqa: E402
from .nuts import NUTS  # noqa: E402
from .sg_base import SGMCMC  # noqa: E402
from .sg_hamiltonian import SGHMC, SGNHT  # noqa: E402
from .sg_langevin import PSGLD, SGLD  # noqa: E402

__all__ = ["SGMCMC", "SGLD", "PSGLD", "SGHMC", "SGNHT", "HMC", "HMCInfo", "NUTS"]
