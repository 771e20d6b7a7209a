"""The table of losses (core/loss_table.py) and the mode vocabularies (core/vocab.py): every
place a loss name or a mode appears is derived from them."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

import click
import numpy as np
import pytest

from ce_cli.core import loss_table, vocab
from ce_cli.core.errors import CEError
from ce_cli.core.loss_table import (
    AUTO,
    LOSSES,
    LossChoice,
    LossParam,
    LossParams,
    LossSpec,
    check_params,
    choose_loss,
    parameter_block,
)
from ce_cli.core.vocab import DataShape, Geometry, Loss, Reduction


# ---------------------------------------------------------------------- vocabularies
def test_the_loss_choices_are_the_table() -> None:
    assert ("auto", *(spec.json_name for spec in LOSSES.values())) == vocab.LOSSES
    assert all(name == spec.name for name, spec in LOSSES.items())


def test_the_json_schema_enum_is_the_table() -> None:
    schema = json.loads(resources.files("ce_cli").joinpath("schemas", "score.json").read_text())
    enum = schema["properties"]["loss"]["properties"]["name"]["enum"]
    assert enum == [spec.json_name for spec in LOSSES.values()]


def test_the_click_choice_of_the_cli_is_the_vocabulary() -> None:
    from ce_cli.cli.main import cli

    score = cli.commands["score"]  # type: ignore[attr-defined]
    choices = {p.name: p.type.choices for p in score.params if isinstance(p.type, click.Choice)}
    assert tuple(choices["loss"]) == vocab.LOSSES
    assert tuple(choices["reduction"]) == vocab.REDUCTIONS


def test_tuples_are_derived_from_the_enums() -> None:
    pairs = [
        (vocab.INPUT_FORMATS, vocab.InputFormat),
        (vocab.OUTPUT_FORMATS, vocab.OutputFormat),
        (vocab.TASKS, vocab.Task),
        (vocab.WEIGHT_SCHEMES, vocab.WeightScheme),
        (vocab.LOSSES, vocab.Loss),
        (vocab.INPUT_KINDS, vocab.InputKind),
        (vocab.REDUCTIONS, vocab.Reduction),
        (vocab.ON_INVALID, vocab.OnInvalid),
        (vocab.STRATEGIES, vocab.Strategy),
        (vocab.CONFIDENCE_MODES, vocab.Confidence),
    ]
    for words, enum in pairs:
        assert words == tuple(m.value for m in enum)
    assert vocab.REDUCTIONS == ("mean", "sum", "none")
    assert vocab.WEIGHT_SCHEMES == ("balanced", "inverse", "sqrt-inverse", "effective", "median")


def test_a_mode_is_its_string() -> None:
    assert Reduction.MEAN == "mean" and f"{Reduction.MEAN}" == "mean" and str(Loss.CE) == "ce"
    assert f"{Geometry.SIGMOID:>8}" == " sigmoid"
    assert json.dumps({"loss": Loss.FOCAL}) == '{"loss": "focal"}'
    assert Reduction.parse("sum", "--reduction") is Reduction.SUM
    with pytest.raises(CEError) as err:
        Reduction.parse("avg", "--reduction")
    assert str(err.value) == "--reduction must be one of mean, sum, none, not 'avg'"


def test_the_vocabulary_imports_no_numpy() -> None:
    code = "import sys, ce_cli.core.vocab; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------- the table
def test_every_geometry_a_spec_declares_has_its_kernels() -> None:
    for spec in LOSSES.values():
        for shape, geometry in spec.shapes.items():
            scored = LOSSES[spec.scored_as.get(shape, spec.name)]
            if geometry == Geometry.SOFTMAX:
                assert scored.rows is not None, (spec.name, shape)
            else:
                assert scored.elements is not None and scored.elements_from_probs is not None
    assert set(AUTO) == set(DataShape)
    assert all(shape in LOSSES[name].shapes for shape, name in AUTO.items())


@pytest.mark.parametrize(
    ("requested", "shape", "reported", "scored", "geometry"),
    [
        ("auto", DataShape.MULTICLASS, "ce", "ce", "softmax"),
        ("auto", DataShape.BINARY, "bce", "bce", "sigmoid"),
        ("auto", DataShape.MULTILABEL, "bce", "bce", "sigmoid"),
        ("auto", DataShape.SOFT, "ce", "ce", "softmax"),
        ("ce", DataShape.BINARY, "ce", "bce", "sigmoid"),  # CE over (0, z) is BCE on z
        ("bce", DataShape.MULTICLASS, "bce", "bce", "sigmoid"),  # one-hot targets
        ("focal", DataShape.MULTICLASS, "focal", "focal", "softmax"),
        ("focal", DataShape.BINARY, "focal", "focal", "sigmoid"),
    ],
)
def test_choose_loss(
    requested: str, shape: DataShape, reported: str, scored: str, geometry: str
) -> None:
    choice = choose_loss(requested, shape)
    assert (choice.reported.name, choice.scored.name, choice.geometry) == (
        reported,
        scored,
        geometry,
    )


@pytest.mark.parametrize(
    ("requested", "shape", "message"),
    [
        (
            "ce",
            DataShape.MULTILABEL,
            "--loss ce does not fit multi-label data (0/1 per label): it scores one class per "
            "row; soft targets (class probabilities); one prediction column for two classes; "
            "pass --loss bce or focal",
        ),
        (
            "focal",
            DataShape.SOFT,
            "--loss focal does not fit soft targets (class probabilities): it scores one class "
            "per row; one prediction column for two classes; multi-label data (0/1 per label); "
            "pass --loss ce or bce",
        ),
        ("poly", DataShape.MULTICLASS, "--loss must be one of auto, ce, bce, focal, not 'poly'"),
    ],
)
def test_a_loss_that_does_not_fit_is_one_line(
    requested: str, shape: DataShape, message: str
) -> None:
    with pytest.raises(CEError) as err:
        choose_loss(requested, shape)
    assert str(err.value) == message


def test_a_new_softmax_only_loss_is_never_scored_as_bce_on_one_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A loss that declares only the multiclass shape is refused on one column."""
    ce = LOSSES[Loss.CE]
    softmax_only = LossSpec(
        name=Loss.CE,
        title="a softmax-only loss",
        shapes={DataShape.MULTICLASS: Geometry.SOFTMAX},
        params=frozenset(),
        rows=ce.rows,
    )
    monkeypatch.setitem(loss_table.LOSSES, Loss.CE, softmax_only)
    with pytest.raises(CEError, match="--loss ce does not fit one prediction column"):
        choose_loss("ce", DataShape.BINARY)
    assert isinstance(choose_loss("ce", DataShape.MULTICLASS), LossChoice)


def test_options_a_loss_does_not_take_are_one_line() -> None:
    with pytest.raises(CEError) as err:
        check_params(LOSSES[Loss.CE], {LossParam.POS_WEIGHT: True})
    assert str(err.value) == "--pos-weight does not apply to --loss ce; it applies to --loss bce"
    with pytest.raises(CEError) as err:
        check_params(LOSSES[Loss.FOCAL], {LossParam.LABEL_SMOOTHING: True})
    assert str(err.value) == (
        "--label-smoothing does not apply to --loss focal; it applies to --loss ce and bce"
    )
    check_params(LOSSES[Loss.FOCAL], {LossParam.LABEL_SMOOTHING: False})
    check_params(LOSSES[Loss.BCE], {LossParam.POS_WEIGHT: True})


def test_the_parameter_block_follows_the_spec() -> None:
    params = LossParams(class_weight=np.array([1.0, 2.0]), gamma=1.5, focal_alpha=0.5)
    ce = parameter_block(LOSSES[Loss.CE], Geometry.SOFTMAX, params, 2.0)
    assert ce == {
        "class_weight": [1.0, 2.0],
        "pos_weight": None,
        "label_smoothing": 0.0,
        "temperature": 2.0,
    }
    focal_softmax = parameter_block(LOSSES[Loss.FOCAL], Geometry.SOFTMAX, params, 1.0)
    assert focal_softmax["gamma"] == 1.5 and "alpha" not in focal_softmax
    focal_sigmoid = parameter_block(LOSSES[Loss.FOCAL], Geometry.SIGMOID, params, 1.0)
    assert focal_sigmoid["gamma"] == 1.5 and focal_sigmoid["alpha"] == 0.5


def test_plain_means_the_log_loss() -> None:
    ones = LossParams(class_weight=np.ones(3), pos_weight=np.ones(3))
    assert LOSSES[Loss.CE].is_plain(ones) and LOSSES[Loss.BCE].is_plain(LossParams())
    assert not LOSSES[Loss.CE].is_plain(LossParams(label_smoothing=0.1))
    assert not LOSSES[Loss.BCE].is_plain(LossParams(pos_weight=np.array([2.0])))
    assert not LOSSES[Loss.FOCAL].is_plain(LossParams())
