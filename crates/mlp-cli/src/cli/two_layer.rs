//! `two-layer`: the scratch network's commands and their flags.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mlp_train::jobs::SeedList;
use mlp_train::ranges::{CountRange, FloatRange};

use super::{DataArgs, DeviceArgs, JobArgs};

#[derive(Debug, Subcommand)]
pub enum TwoLayerCommand {
    /// Prove the hand-written network right: the toy scores and loss (Q1) and
    /// every gradient against finite differences and autodiff (Q2), in f64.
    Check(CheckArgs),
    /// Train with SGD (Q3) and write the loss history, accuracy curves and
    /// the first-layer weights as images.
    Train(TwoLayerTrainArgs),
    /// Grid search over hidden size, learning rate, regularisation and
    /// iterations, scored on validation.
    Tune(TuneArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Toy fixture (JSON); default: the assignment's, bundled with the tool.
    #[arg(long)]
    pub fixture: Option<PathBuf>,
    /// Also save the report as two_layer_check.txt (and the command) in this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// SGD settings shared by `train` and `tune` (assignment Q3 defaults).
#[derive(Debug, Clone, Args)]
pub struct SgdArgs {
    /// Learning-rate factor applied after every epoch.
    #[arg(long, default_value_t = 0.95, allow_hyphen_values = true)]
    pub lr_decay: f64,
    /// Minibatch size (drawn with replacement).
    #[arg(long, default_value_t = 200, allow_negative_numbers = true)]
    pub batch_size: usize,
    /// Initial weights are std * N(0, 1).
    #[arg(long, default_value_t = 1e-4, allow_hyphen_values = true)]
    pub std: f64,
}

#[derive(Debug, Args)]
pub struct TwoLayerTrainArgs {
    /// Train on the assignment's toy problem instead of CIFAR-10 (lr 0.1,
    /// reg 5e-6, 100 iterations unless given). Its network (4-10-3) and
    /// weights are the fixture's, so the network, data and device flags do
    /// not apply.
    #[arg(
        long,
        conflicts_with_all = ["hidden", "std", "test", "data_dir", "num_train", "num_val", "num_test", "device"]
    )]
    pub toy: bool,
    /// Hidden units.
    #[arg(long, default_value_t = 50, allow_negative_numbers = true)]
    pub hidden: usize,
    /// SGD learning rate [default: 1e-4; 0.1 with --toy].
    #[arg(long, allow_hyphen_values = true)]
    pub lr: Option<f64>,
    /// L2 regularisation strength [default: 0.25; 5e-6 with --toy].
    #[arg(long, allow_hyphen_values = true)]
    pub reg: Option<f64>,
    /// Iterations [default: 1000; 100 with --toy].
    #[arg(long, allow_negative_numbers = true)]
    pub iters: Option<usize>,
    #[command(flatten)]
    pub sgd: SgdArgs,
    /// Seed of the weights and minibatch draws.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub seed: u64,
    /// Evaluate the test split once at the end.
    #[arg(long)]
    pub test: bool,
    /// Directory for the history CSV and the plots.
    #[arg(long, default_value = "experiments/two_layer")]
    pub out: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Debug, Args)]
pub struct TuneArgs {
    /// Hidden sizes to try: a list (50,100,200) or a range with step (50..300:50).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "50,100,200",
        allow_hyphen_values = true
    )]
    pub hidden: Vec<CountRange>,
    /// Learning rates to try: a list (5e-4,1e-3), a range multiplied at each
    /// step (1e-4..1e-2:x10 gives 1e-4,1e-3,1e-2) or a range with an added
    /// step (1e-3..3e-3:1e-3); ranges include both ends.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5e-4,1e-3,2e-3",
        allow_hyphen_values = true
    )]
    pub lr: Vec<FloatRange>,
    /// Regularisation strengths to try: a list or a range, as for --lr
    /// (0.1..0.5:0.2 gives 0.1,0.3,0.5).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.1,0.25,0.5",
        allow_hyphen_values = true
    )]
    pub reg: Vec<FloatRange>,
    /// Iteration counts to try: a list or a range with step.
    #[arg(long, value_delimiter = ',', default_value = "2000", allow_hyphen_values = true)]
    pub iters: Vec<CountRange>,
    #[command(flatten)]
    pub sgd: SgdArgs,
    /// Seeds (weights and minibatch draws): every grid point is trained once
    /// per seed and ranked by its mean validation accuracy. A list (0,1,2)
    /// or an inclusive range (0..4).
    #[arg(long, alias = "seed", default_value = "0")]
    pub seeds: SeedList,
    /// Trials trained at the same time [default: the number of CPU cores on
    /// the CPU, 1 on a GPU]. Results do not depend on it. Measured on 2 cores:
    /// a 4-trial tuning run took 17.0 s with 1 job and 9.8 s with 2.
    #[arg(long, allow_negative_numbers = true)]
    pub jobs: Option<usize>,
    /// Evaluate the best trial on the test split, once.
    #[arg(long)]
    pub test: bool,
    /// Directory for the tuning table, heat map and the best trial's curves.
    #[arg(long, default_value = "experiments/two_layer_tuning")]
    pub out: PathBuf,
    #[command(flatten)]
    pub job: JobArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}
