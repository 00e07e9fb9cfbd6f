//! What training asks of a device besides arithmetic, counted: kernel
//! launches (through cubecl's launch observer, while a [`LaunchCounting`]
//! is installed) and host reads of device data. On a GPU every read is a
//! synchronisation: the host waits until the device has computed it. These
//! are what a step of a small network pays on a GPU, and what training
//! networks in stacked groups saves (`mlp-cli bench --networks K`). The
//! reads counted are the training code's own (every read it makes goes
//! through [`read_f64`]); a synchronisation inside Burn would not be.
//!
//! The counters are process-wide: numbers taken while one training runs
//! alone (as `bench` does) are that training's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::cubecl::logging::{LaunchObservation, LaunchObserver};
use burn::prelude::*;

static LAUNCHES: AtomicUsize = AtomicUsize::new(0);
static HOST_READS: AtomicUsize = AtomicUsize::new(0);

/// Counts every cubecl kernel launch (wgpu; the flex CPU device launches
/// none) from `start` until dropped.
pub struct LaunchCounting {
    _observation: LaunchObservation,
}

struct CountLaunches;

impl LaunchObserver for CountLaunches {
    fn launched(&self, _kernel: &'static str) {
        LAUNCHES.fetch_add(1, Ordering::Relaxed);
    }
}

impl LaunchCounting {
    pub fn start() -> Self {
        LaunchCounting {
            _observation: LaunchObservation::new(Arc::new(CountLaunches)),
        }
    }
}

/// Kernel launches counted so far, while a [`LaunchCounting`] was installed.
pub fn kernel_launches() -> usize {
    LAUNCHES.load(Ordering::Relaxed)
}

/// Host reads of device data by the training code so far.
pub fn host_reads() -> usize {
    HOST_READS.load(Ordering::Relaxed)
}

/// Reads `values` ([n], on any device) back to the host as f64, counted as
/// one synchronisation.
pub(crate) fn read_f64(values: Tensor<1>) -> Vec<f64> {
    HOST_READS.fetch_add(1, Ordering::Relaxed);
    values
        .into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .expect("f64 after convert")
}

/// Per network, summed loss and correct count from `loss_sum` and `correct`
/// ([k] each), in one read (one synchronisation on a GPU).
pub(crate) fn read_sums(loss_sum: Tensor<1>, correct: Tensor<1, Int>) -> Vec<(f64, f64)> {
    let sums = read_f64(Tensor::cat(vec![loss_sum, correct.float()], 0));
    let (losses, correct) = sums.split_at(sums.len() / 2);
    losses.iter().copied().zip(correct.iter().copied()).collect()
}

/// What one epoch of a group's training asked of the device (the same for
/// every network of the group).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EpochDeviceWork {
    /// Optimiser steps in the epoch.
    pub steps: usize,
    /// Kernels launched from the start of the epoch's steps (the reset of its
    /// sums included) to the read of its sums (which flushes what the steps
    /// left queued); 0 unless a [`LaunchCounting`] was installed, and on a
    /// device without kernels.
    pub step_launches: usize,
    /// Host reads between the epoch's first step and its last.
    pub reads_within_steps: usize,
    /// Host reads over the whole epoch: its steps, the read of its sums,
    /// validation (and the dynamics probe when it runs).
    pub reads: usize,
}
