//! CIFAR-10 for the MLP assignment: reading the official binary and Python layouts,
//! checking them, splitting them into train / validation / test, normalising them the
//! ways the assignment asks for, and downloading the binary archive.
//!
//! Images stay `u8` in the dataset's own CHW order until [`Normalizer`] turns the ones a
//! batch needs into `f32`, so the whole training set costs 150 MB rather than 600 MB.

mod binary;
mod dataset;
pub mod download;
mod error;
mod image_set;
mod layout;
mod normalize;
mod pickle;
mod python;
mod split;

pub use dataset::{Cifar10, FileSummary, bundled_subset_dir};
pub use download::{CIFAR10_BINARY_MD5, CIFAR10_BINARY_URL, download, download_from, extract_tar_gz, md5_hex};
pub use error::DataError;
pub use image_set::ImageSet;
pub use layout::{DEFAULT_CLASS_NAMES, Layout};
pub use normalize::{Normalizer, Preprocess};
pub use split::{SplitSizes, Splits};

/// Height and width of a CIFAR-10 image.
pub const IMAGE_SIDE: usize = 32;
/// Colour channels (R, G, B), stored as separate planes.
pub const CHANNELS: usize = 3;
/// Bytes (= features) of one image: 3 planes of 32x32.
pub const IMAGE_BYTES: usize = CHANNELS * IMAGE_SIDE * IMAGE_SIDE;
/// Bytes of one record of the binary layout: the label byte, then the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Number of classes; labels are `0..NUM_CLASSES`.
pub const NUM_CLASSES: usize = 10;

/// Pixels of one colour plane (32x32).
pub(crate) const PLANE: usize = IMAGE_SIDE * IMAGE_SIDE;
