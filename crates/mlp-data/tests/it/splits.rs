//! Train/validation/test splits: boundaries, sizes and refusals.

use super::*;

#[test]
fn boundaries() {
    let data = subset().clone();
    let train = data.train.clone();
    let test = data.test.clone();
    let splits = data.into_splits(SUBSET_SIZES).unwrap();
    assert_eq!(
        (splits.train.len(), splits.val.len(), splits.test.len()),
        (4_170, 1_000, 1_000)
    );
    assert_eq!(splits.class_names.len(), NUM_CLASSES);
    // train = training images [0, 4170), val = [4170, 5170), test = test images [0, 1000).
    assert_eq!(splits.train.image(4_169), train.image(4_169));
    assert_eq!(splits.train.label(4_169), train.label(4_169));
    assert_eq!(splits.val.label(0), train.label(4_170));
    assert_eq!(splits.val.image(0), train.image(4_170));
    assert_eq!(splits.val.label(999), train.label(5_169));
    assert_eq!(splits.val.image(999), train.image(5_169));
    assert_eq!(splits.test.pixels(), &test.pixels()[..1_000 * IMAGE_BYTES]);
    assert_eq!(splits.test.labels(), &test.labels()[..1_000]);
    // Image 4,169 is record 16 and image 4,170 record 17 of data_batch_5.bin (labels
    // read with python), which checks the concatenation order too.
    assert_eq!((train.label(4_169), train.label(4_170)), (6, 2));
}

#[test]
fn too_large_names_the_flag_and_what_exists() {
    let sizes = SplitSizes {
        num_val: 1_001,
        ..SUBSET_SIZES
    };
    let err = assert_error(
        subset().clone().into_splits(sizes),
        &["--num-train + --num-val", "5171", "5170"],
    );
    assert!(matches!(
        err,
        DataError::SplitTooLarge {
            requested: 5_171,
            available: 5_170,
            ..
        }
    ));

    let sizes = SplitSizes {
        num_test: 1_018,
        ..SUBSET_SIZES
    };
    assert_error(subset().clone().into_splits(sizes), &["--num-test", "1018", "1017"]);

    // The assignment's own sizes do not fit the subset.
    assert_error(subset().clone().into_splits(SplitSizes::default()), &["50000", "5170"]);

    let sizes = SplitSizes {
        num_train: 0,
        ..SUBSET_SIZES
    };
    assert_error(subset().clone().into_splits(sizes), &["--num-train"]);
}

#[test]
fn everything_fits_exactly() {
    let sizes = SplitSizes {
        num_train: 5_170,
        num_val: 0,
        num_test: 1_017,
    };
    let splits = subset().clone().into_splits(sizes).unwrap();
    assert_eq!(
        (splits.train.len(), splits.val.len(), splits.test.len()),
        (5_170, 0, 1_017)
    );
}

#[test]
fn default_sizes_are_the_assignments() {
    let d = SplitSizes::default();
    assert_eq!((d.num_train, d.num_val, d.num_test), (49_000, 1_000, 1_000));
}
