"""The only unit constants in vtt."""

KIB = 1024
MIB = 1024**2
GIB = 1024**3
GB = 1e9
NS_PER_S = 1e9


def gib(n_bytes: float) -> float:
    return n_bytes / GIB
