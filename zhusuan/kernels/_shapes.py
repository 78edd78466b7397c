"""Shape arithmetic shared by every backend: broadcasting and reduce plans."""

__all__ = ["broadcast_shapes", "reduced_shape", "normalize_axes"]


def broadcast_shapes(*shapes, what=None):
    """Numpy-style broadcast of shapes (lists of ints); ValueError if impossible.

    ``what`` names the operands for the error message, e.g. ``["x", "mean"]``.
    """
    shapes = [tuple(map(int, s)) for s in shapes]
    if shapes and all(s == shapes[0] for s in shapes):
        return shapes[0]  # the common case, without the per-axis loop
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dims = set()
        for s in shapes:
            j = i - (rank - len(s))
            if j >= 0 and s[j] != 1:
                dims.add(s[j])
        if len(dims) > 1:
            names = what or [f"arg{k}" for k in range(len(shapes))]
            desc = ", ".join(f"{n} {list(s)}" for n, s in zip(names, shapes, strict=False))
            raise ValueError(f"shapes do not broadcast: {desc}")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def normalize_axes(axes, rank):
    """Sorted tuple of distinct non-negative axes; ValueError if out of range."""
    out = set()
    for a in axes:
        a = int(a)
        if not -rank <= a < rank:
            raise ValueError(f"axis {a} is out of range for rank {rank}")
        out.add(a % rank)
    return tuple(sorted(out))


def reduced_shape(shape, axes):
    """``shape`` with ``axes`` removed; Jittor keeps fully reduced values as [1]."""
    out = [d for i, d in enumerate(shape) if i not in set(axes)]
    return out if out else [1]
