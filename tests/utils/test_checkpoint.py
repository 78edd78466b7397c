"""zs.utils checkpoints: exact round trips, refusal of damaged or unsafe
files with nothing half loaded, atomic writes, and the seed rule.

Oracles: an optimiser that never stopped (a checkpointed copy must take the
next step to the same bits), the saved Python values themselves (exact
equality), and the weights before a refused load (untouched).
"""

import hashlib
import io
import os
import pickle

# isort: off
import zhusuan as zs
import jittor as jt

# isort: on
from zhusuan.utils import CheckpointError, derive_seed, load_checkpoint, save_checkpoint

import numpy as np
import pytest
from jittor import nn


def _net(seed, hidden=4):
    jt.set_seed(seed)
    return nn.Sequential(nn.Linear(3, hidden), nn.Relu(), nn.Linear(hidden, 2))


def _weights(net):
    return {k: v.numpy().copy() for k, v in net.state_dict().items()}


def _train(net, opt, x, steps):
    for _ in range(steps):
        opt.step((net(x) ** 2).sum())


OPTIMIZERS = {
    "jt.optim.Adam": lambda ps: jt.optim.Adam(ps, 1e-2),
    "zs.optim.Adam": lambda ps: zs.optim.Adam(ps, 1e-2),
    "zs.optim.SGD": lambda ps: zs.optim.SGD(ps, 1e-2, momentum=0.9),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_resumed_training_equals_uninterrupted_bit_for_bit(tmp_path, name):
    make = OPTIMIZERS[name]
    x = jt.array(np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3))
    net = _net(1)
    opt = make(net.parameters())
    _train(net, opt, x, 3)
    path = tmp_path / "ckpt.zsc"
    save_checkpoint(path, {"net": net, "opt": opt}, state={"step": 3})
    _train(net, opt, x, 2)  # the uninterrupted run goes on

    other = _net(2)  # different initial weights, fresh optimiser state
    other_opt = make(other.parameters())
    state = load_checkpoint(path, {"net": other, "opt": other_opt})
    assert state == {"step": 3}
    assert other_opt.n_step == 3
    _train(other, other_opt, x, 2)
    for key, value in _weights(net).items():
        np.testing.assert_array_equal(_weights(other)[key], value, err_msg=key)


def test_state_and_options_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(7)
    rng.normal(size=3)
    state = {
        "epoch": 2, "loss": 0.1 + 0.2, "big": 2 ** 100, "name": "x", "none": None,
        "flag": True, "pair": (1, 2.5), "nested": [{"a": [1, (2, 3)]}],
        "array": np.arange(6, dtype=np.int16).reshape(2, 3),
        "scalar": np.float32(1.25), "zero_d": np.array(3.5),
        "names": np.array(["w1", "y_logstd"]),
        "var": jt.array(np.array([1.5, -2.0], np.float32)),
        "rng": rng.bit_generator.state,
    }
    options = {"lr": 1e-3, "betas": (0.9, 0.999)}
    path = tmp_path / "s.zsc"
    save_checkpoint(path, state=state, options=options)
    got = zs.utils.read_checkpoint(path)
    assert got.options == options and isinstance(got.options["betas"], tuple)
    s = got.state
    for key in ("epoch", "loss", "big", "name", "none", "flag", "pair", "nested",
                "rng"):
        assert s[key] == state[key] and type(s[key]) is type(state[key]), key
    assert s["array"].dtype == np.int16
    np.testing.assert_array_equal(s["array"], state["array"])
    assert type(s["scalar"]) is np.float32 and s["scalar"] == np.float32(1.25)
    assert s["zero_d"].shape == () and s["zero_d"] == 3.5
    assert s["names"].dtype == state["names"].dtype
    assert s["names"].tolist() == ["w1", "y_logstd"]
    np.testing.assert_array_equal(s["var"], [1.5, -2.0])
    restored = np.random.default_rng()
    restored.bit_generator.state = s["rng"]
    np.testing.assert_array_equal(restored.normal(size=4), rng.normal(size=4))


def test_unsupported_values_are_named(tmp_path):
    with pytest.raises(TypeError, match=r"\$state/fn: cannot checkpoint a function"):
        save_checkpoint(tmp_path / "x.zsc", state={"fn": _net})
    with pytest.raises(TypeError, match="dtype object"):
        save_checkpoint(tmp_path / "x.zsc", state={"a": np.array([{}], dtype=object)})
    assert not (tmp_path / "x.zsc").exists()


# -- refusing damaged and unsafe files ------------------------------------------------


class _Payload:
    """Unpickling this runs ``open(marker, 'w')``: the code a crafted pickle
    would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _saved(tmp_path):
    net = _net(3)
    opt = jt.optim.Adam(net.parameters(), 1e-2)
    _train(net, opt, jt.ones((2, 3)), 1)
    path = tmp_path / "good.zsc"
    save_checkpoint(path, {"net": net, "opt": opt}, state={"epoch": 1})
    return path


def _fresh():
    net = _net(4)
    return net, jt.optim.Adam(net.parameters(), 1e-2)


def _refused(path, match, objects=None):
    """Loading ``path`` raises naming it and ``match``; the objects keep
    their weights and optimiser step."""
    net, opt = objects or _fresh()
    before, step = _weights(net), opt.n_step
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(path, {"net": net, "opt": opt})
    assert str(path) in str(info.value) and info.value.path == str(path)
    for key, value in _weights(net).items():
        np.testing.assert_array_equal(value, before[key])
    assert opt.n_step == step
    return str(info.value)


def test_a_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.pkl"
    path.write_bytes(pickle.dumps({"modules": _Payload(marker)}, protocol=4))
    message = _refused(path, "pickle")
    assert "format changed" in message
    assert not marker.exists()


def test_a_pickled_array_inside_the_format_is_refused(tmp_path):
    # A file in the checkpoint's own envelope, checksum correct, whose archive
    # holds an object array (a pickle in .npy): numpy must not unpickle it.
    marker = tmp_path / "pwned"
    payload = io.BytesIO()
    np.save(payload, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    archive = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("evil.npy", payload.getvalue())
    archive = archive.getvalue()
    header = (b'{"arrays": {"evil": {"dtype": "|O", "shape": [1]}}, "format": '
              b'"zhusuan-checkpoint", "objects": {}, "options": null, '
              b'"payload_bytes": %d, "state": {"x": {"$array": "evil"}}, '
              b'"version": 1}' % len(archive))
    body = header + archive
    path = tmp_path / "evil.zsc"
    path.write_bytes(b"ZHUSUAN-CHECKPOINT 1\nsha256 %s\nsize %d\nheader %d\n"
                     % (hashlib.sha256(body).hexdigest().encode(), len(body),
                        len(header)) + body)
    with pytest.raises(CheckpointError, match="array 'evil' was refused") as info:
        zs.utils.read_checkpoint(path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_flipped_bytes_are_refused(tmp_path):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    # 4 KB of 0xFF inside the arrays (issue 15's case), and one flipped bit.
    bad = tmp_path / "ff.zsc"
    bad.write_bytes(bytes(data[:-5000] + b"\xff" * 4096 + data[-904:]))
    _refused(bad, "checksum mismatch")
    one = bytearray(data)
    one[len(one) // 2] ^= 0x01
    bad.write_bytes(bytes(one))
    _refused(bad, "checksum mismatch")


def test_truncated_file_is_refused(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 30, 0):
        bad = tmp_path / f"cut{cut}.zsc"
        bad.write_bytes(data[:cut])
        _refused(bad, "truncated|damaged envelope|not a zhusuan checkpoint")
    bad.write_bytes(data[:len(data) - 100])
    _refused(bad, r"truncated: \d+ bytes of contents expected, \d+ found")


def test_wrong_checksum_is_refused(tmp_path):
    path = _saved(tmp_path)
    data = path.read_bytes()
    lines = data.split(b"\n", 2)
    digest = lines[1].split(b" ")[1]
    wrong = bytes(reversed(digest))
    bad = tmp_path / "sum.zsc"
    bad.write_bytes(data.replace(digest, wrong, 1))
    message = _refused(bad, "checksum mismatch")
    assert wrong.decode() in message and digest.decode() in message


def test_missing_and_extra_parameters_are_named(tmp_path):
    path = _saved(tmp_path)
    net = nn.Sequential(nn.Linear(3, 4), nn.Relu(), nn.Linear(4, 2), nn.Linear(2, 2))
    opt = jt.optim.Adam(net.parameters(), 1e-2)
    _refused(path, r"no parameter 'net\.3\.weight'", (net, opt))
    small = nn.Sequential(nn.Linear(3, 4))
    _refused(path, r"parameter 'net\.2\.(weight|bias)', which 'net' does not have",
             (small, jt.optim.Adam(small.parameters(), 1e-2)))


def test_shape_mismatch_names_the_parameter_and_loads_nothing(tmp_path):
    path = _saved(tmp_path)
    wide = _net(5, hidden=6)
    message = _refused(path, r"parameter 'net\.0\.weight' has shape \[4, 3\] in the "
                             r"checkpoint, \[6, 3\] in the model",
                       (wide, jt.optim.Adam(wide.parameters(), 1e-2)))
    assert "net.0.weight" in message


def test_no_half_load_when_the_second_object_does_not_fit(tmp_path):
    a, b = _net(6), _net(7)
    path = tmp_path / "two.zsc"
    save_checkpoint(path, {"a": a, "b": b})
    fits, misfit = _net(8), _net(9, hidden=5)
    before = _weights(fits)
    with pytest.raises(CheckpointError, match=r"'b\.0\.weight' has shape"):
        load_checkpoint(path, {"a": fits, "b": misfit})
    for key, value in _weights(fits).items():
        np.testing.assert_array_equal(value, before[key])


def test_optimizer_state_that_does_not_fit_is_named(tmp_path):
    path = _saved(tmp_path)
    net = _net(10)
    opt = jt.optim.Adam([net.parameters()[0]], 1e-2)
    _refused(path, "optimizer 'opt': group 0 has 4 parameters in the checkpoint, "
                   "1 here", (net, opt))


def test_different_options_are_named(tmp_path):
    path = tmp_path / "o.zsc"
    save_checkpoint(path, state={}, options={"lr": 0.1, "seed": 1})
    with pytest.raises(CheckpointError, match=r"lr=0\.1 \(this run: 0\.2\)"):
        load_checkpoint(path, options={"lr": 0.2, "seed": 1})
    assert load_checkpoint(path, options={"lr": 0.1, "seed": 1}) == {}


def test_a_missing_object_is_named(tmp_path):
    path = _saved(tmp_path)
    net, opt = _fresh()
    with pytest.raises(CheckpointError, match=r"no state for 'model'"):
        load_checkpoint(path, {"model": net})


# -- writing --------------------------------------------------------------------------


def test_a_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = _saved(tmp_path)
    before = path.read_bytes()
    net, opt = _fresh()

    def power_cut(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", power_cut)
    with pytest.raises(OSError, match=f"cannot write {path}"):
        save_checkpoint(path, {"net": net, "opt": opt}, state={"epoch": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["good.zsc"]
    assert load_checkpoint(path) == {"epoch": 1}


def test_write_errors_name_the_file(tmp_path):
    target = tmp_path / "no-such-dir" / "c.zsc"
    with pytest.raises(OSError, match=f"cannot write {target}"):
        save_checkpoint(target, state={})


def test_checkpoint_file_mode_follows_the_umask(tmp_path):
    path = _saved(tmp_path)
    mask = os.umask(0o022)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask


# -- the seed rule --------------------------------------------------------------------


def test_derive_seed_is_a_pure_function_of_its_keys():
    a = derive_seed(1234, "step", 17)
    assert a == derive_seed(1234, "step", 17)
    assert 0 <= a < 2 ** 31
    seeds = {derive_seed(1234, "step", k) for k in range(1000)}
    assert len(seeds) == 1000
    assert derive_seed(1234, "data", 17) != a != derive_seed(1235, "step", 17)
    assert derive_seed(-1, "x") == derive_seed(2 ** 64 - 1, "x")
    with pytest.raises(TypeError, match="integers and strings"):
        derive_seed(1, 2.5)


def test_jittor_draws_depend_only_on_the_seed_set_before_them():
    """The premise of the rule: after jt.set_seed(s) the next draws are the
    same whatever was drawn before."""
    s = derive_seed(99, "step", 3)
    jt.set_seed(s)
    first = jt.randn(5).numpy()
    jt.set_seed(12345)
    jt.randn(17).numpy()
    jt.set_seed(s)
    np.testing.assert_array_equal(jt.randn(5).numpy(), first)
