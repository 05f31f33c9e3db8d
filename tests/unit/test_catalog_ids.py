"""Every catalog entry is reachable by its own id and aliases: the catalog keeps the first entry (in file
order) that claims a name, so an alias left on an older sibling (Mistral Small 3.1 listing 3.2's names)
silently answers for the wrong model."""

from vtt.specs.catalog import default_world


def test_every_model_id_and_alias_resolves_to_its_own_entry():
    w = default_world()
    wrong = []
    for mid, arch in w.models.items():
        for name in [mid, *arch.aliases]:
            got = w.find_model(name)
            if got is None or got.id != mid:
                wrong.append(f"{name!r} of {mid} -> {got.id if got else None}")
    assert not wrong, wrong
