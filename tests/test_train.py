"""Training one cell from scratch: the fields NAS-Bench-101 records, seeds, bad settings."""

import pytest
import torch
from conftest import INCEPTION_MATRIX, INCEPTION_OPS

from nasbench1shot1.data import DataSplits, Split, augment_batch, load_digits_splits
from nasbench1shot1.models import NetworkConfig
from nasbench1shot1.nasbench import ModelSpec
from nasbench1shot1.train import TrainConfig, train_cell

TINY_NET = NetworkConfig(stem_channels=4, num_stacks=2, modules_per_stack=1, bn_momentum=0.1)
QUICK = TrainConfig(epochs=2, batch_size=32, optimizer="sgd", learning_rate=0.05,
                    crop_padding=1, flip=True)


@pytest.fixture(scope="module")
def digits() -> DataSplits:
    return load_digits_splits().subset(train=96, valid=48, test=48)


def test_digits_split_is_fixed_and_disjoint():
    a, b = load_digits_splits(), load_digits_splits()
    assert (len(a.train), len(a.valid), len(a.test)) == (1_000, 397, 400)
    assert torch.equal(a.test.images, b.test.images)
    assert a.in_channels == 1 and a.image_size == 8 and a.num_classes == 10
    assert abs(float(a.train.images.mean())) < 1e-5
    assert not torch.equal(load_digits_splits(seed=1).test.labels, a.test.labels)
    with pytest.raises(ValueError, match="must leave at least one test image"):
        load_digits_splits(train=1_500, valid=297)


def test_train_cell_records_nasbench101_fields(digits: DataSplits):
    spec = ModelSpec(INCEPTION_MATRIX, INCEPTION_OPS)
    result = train_cell(spec, digits, QUICK, TINY_NET)
    assert result.module_hash == spec.hash_spec()
    assert (result.start.current_epoch, result.halfway.current_epoch,
            result.final.current_epoch) == (0, 1, 2)
    assert result.start.training_time == 0.0
    assert 0 < result.halfway.training_time <= result.final.training_time <= result.total_time
    for point in (result.start, result.halfway, result.final):
        for value in (point.train_accuracy, point.validation_accuracy, point.test_accuracy):
            assert 0.0 <= value <= 1.0
    assert result.trainable_parameters > 0


def test_same_seed_same_result_other_seed_other_result(digits: DataSplits):
    spec = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"])
    first = train_cell(spec, digits, QUICK, TINY_NET)
    again = train_cell(spec, digits, QUICK, TINY_NET)
    other = train_cell(spec, digits, TrainConfig(**{**QUICK.__dict__, "seed": 1}), TINY_NET)
    assert first.final.test_accuracy == again.final.test_accuracy
    assert first.final.train_accuracy == again.final.train_accuracy
    assert (first.final.train_accuracy, first.final.validation_accuracy) != (
        other.final.train_accuracy, other.final.validation_accuracy
    )


def test_training_learns_the_digits():
    data = load_digits_splits()
    spec = ModelSpec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"])
    cfg = TrainConfig(epochs=4, batch_size=128, optimizer="sgd", learning_rate=0.2,
                      crop_padding=0, flip=False)
    result = train_cell(spec, data, cfg, NetworkConfig(stem_channels=8, num_stacks=2,
                                                       modules_per_stack=1, bn_momentum=0.1))
    assert result.start.test_accuracy < 0.3
    assert result.final.test_accuracy > 0.6


def test_bad_train_settings_are_named():
    with pytest.raises(ValueError, match="unknown optimizer 'adamw', expected one of rmsprop, sgd"):
        TrainConfig(optimizer="adamw")
    with pytest.raises(ValueError, match="train epochs must be a positive integer, got 0"):
        TrainConfig(epochs=0)


def test_augmentation_keeps_shapes_and_is_seeded():
    images = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4) + 1
    same = [augment_batch(images, torch.Generator().manual_seed(3), 1, True, 2) for _ in range(2)]
    assert same[0].shape == images.shape
    assert torch.equal(same[0], same[1])
    holes = augment_batch(images, torch.Generator().manual_seed(0), cutout_length=2)
    assert int((holes == 0).sum()) > 0 and int((holes == 0).sum()) <= 2 * 4
    assert torch.equal(augment_batch(images, cutout_length=2, cutout_prob=0.0), images)
    assert Split(images, torch.zeros(2, dtype=torch.int64)).images is images
