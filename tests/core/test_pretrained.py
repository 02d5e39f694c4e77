"""D13: the pretrained model's recipe, its seeded data and where the shipped archive lives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ptycho.archive import read_archive
from ptycho.pretrained import RECIPE, PretrainRecipe, archive_path, evaluation_scans, training_scans


def test_recipe_covers_every_family_probe_and_photon_level_equally() -> None:
    combos = [RECIPE.combination(k) for k in range(RECIPE.n_scans)]
    families, probes, photons = zip(*combos, strict=True)
    assert set(families) == set(RECIPE.families)
    assert set(probes) == set(RECIPE.probes)
    assert set(photons) == set(RECIPE.photons)
    counts = {c: combos.count(c) for c in set(combos)}
    assert len(counts) == len(RECIPE.families) * len(RECIPE.probes) * len(RECIPE.photons)
    assert len(set(counts.values())) == 1


def test_training_scans_are_seeded_and_follow_the_recipe() -> None:
    recipe = dataclasses.replace(RECIPE, n_scans=4, positions=16)
    first = training_scans(recipe)
    again = training_scans(recipe)
    assert [ds.info["object_family"] for ds in first] == ["mixed", "grains", "mixed", "grains"]
    assert [ds.info["probe_kind"] for ds in first] == ["disk", "disk", "zone_plate", "zone_plate"]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.raw.diff3d, b.raw.diff3d)
    assert not np.array_equal(first[0].object, first[2].object)


def test_evaluation_objects_are_never_training_objects() -> None:
    recipe = dataclasses.replace(RECIPE, n_scans=2, positions=16)
    held_out = evaluation_scans(recipe, positions=16)
    assert set(held_out) == {
        f"{f}/{p}" for f in recipe.evaluation_families for p in ("disk", "zone_plate")
    }
    training = {ds.seed for ds in training_scans(recipe)}
    assert training.isdisjoint({ds.seed for ds in held_out.values()})


def test_recipe_is_json_safe() -> None:
    import json

    data = PretrainRecipe().to_dict()
    assert json.loads(json.dumps(data))["families"] == list(RECIPE.families)


def test_the_shipped_archive_is_a_small_backprop_unet_model_with_its_card() -> None:
    """D13: one wts.h5.zip of at most 10 MiB, its recipe and held-out quality in the manifest."""
    path = archive_path()
    assert path.stat().st_size <= 10 * 1024 * 1024
    manifest = read_archive(path).manifest
    assert manifest["model_config"]["architecture"] == "backprop_unet"
    card = manifest["pretraining"]
    assert card["recipe"]["families"] == list(RECIPE.families)
    assert {"amp_ssim", "phase_ssim"} <= set(card["evaluation"]["mixed/disk"])


def test_missing_archive_error_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import ptycho.pretrained as pretrained

    monkeypatch.setattr(pretrained, "ARCHIVE_FILE", "no_such_model.zip")
    with pytest.raises(FileNotFoundError, match="python -m ptycho_torch.pretrain"):
        pretrained.archive_path()
