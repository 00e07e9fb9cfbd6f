//! Command-line definitions. Doc comments become `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use mlp_data::Preprocess;
use mlp_train::jobs::{SeedList, Shard};
use mlp_train::depth_study::{LayerRange, Variant};

use crate::device::DeviceChoice;

const EXAMPLES: &str = "\
Examples:
  # The depth study on the bundled CIFAR-10 subset, on the CPU:
  mlp-cli depth-study --layers 2..6 --device cpu \\
      --data-dir ../shared/data/cifar-10-subset --num-train 4170 --num-val 1000 --num-test 1000

  # The same study on the full dataset and the GPU, three seeds (mean ± std):
  mlp-cli download --dir data
  mlp-cli depth-study --layers 2..6 --device gpu --data-dir data --seeds 0..2

  # Interrupted (Ctrl-C, a killed job)? The same command with --resume
  # trains only the runs that are missing:
  mlp-cli depth-study --layers 2..6 --device gpu --data-dir data --seeds 0..2 --resume

  # Spread a study over 4 machines (e.g. a Slurm job array), then combine:
  mlp-cli depth-study --data-dir data --out results --shard 1/4   # … 2/4, 3/4, 4/4
  mlp-cli merge results

  # The from-scratch two-layer network: gradient checks, a run, a sweep:
  mlp-cli two-layer check
  mlp-cli two-layer train --toy
  mlp-cli two-layer tune --hidden 50,100,200 --lr 5e-4,1e-3,2e-3 --reg 0.1,0.25 --iters 2000";

/// Multi-layer perceptrons on CIFAR-10 with Burn: a two-layer network written
/// from scratch with its gradients checked, and a layer-depth study that shows
/// why deep plain MLPs fail and what fixes them.
#[derive(Debug, Parser)]
#[command(name = "mlp-cli", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print nothing but errors and final results (no progress bars).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train MLPs of every depth in a range, plain and with fixes (Kaiming
    /// init, BatchNorm, dropout); write CSV tables and plots.
    DepthStudy(DepthStudyArgs),
    /// The two-layer network written from scratch (assignment Q1–Q3).
    #[command(subcommand)]
    TwoLayer(TwoLayerCommand),
    /// Download the official CIFAR-10 binary archive (170 MB), check its MD5
    /// and extract it.
    Download(DownloadArgs),
    /// Show the layout, files, record counts and class counts of a CIFAR-10 directory.
    DataInfo(DataInfoArgs),
    /// Show the wgpu adapter `--device gpu` would open (name, type, backend,
    /// driver) and which device `--device gpu` and `--device auto` pick; exit
    /// 1, saying what to check, when none opens.
    DeviceInfo,
    /// Time the assignment's MLPs ([50] and [50,40,30,25,20]) through the real
    /// training path on full-size synthetic data: seconds per epoch, images
    /// per second, peak memory, GFLOP/s and the share of the measured matmul peak.
    Bench(BenchArgs),
    /// Combine the shards of a depth study or a tuning sweep (`--shard K/N`)
    /// into the tables and plots of a single run; refuses shards that do not
    /// belong together.
    Merge(MergeArgs),
}

impl Command {
    /// Whether the command trains runs one by one and saves each as it
    /// finishes, so Ctrl-C should let it stop cleanly.
    pub fn saves_runs(&self) -> bool {
        matches!(
            self,
            Command::DepthStudy(_) | Command::TwoLayer(TwoLayerCommand::Train(_) | TwoLayerCommand::Tune(_))
        )
    }
}

/// Where the data is and how it is split.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// CIFAR-10 directory: the binary layout (data_batch_1.bin …) or the
    /// Python layout (data_batch_1 …), or a directory holding
    /// cifar-10-batches-bin / cifar-10-batches-py.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Training images: the first N of the training files.
    #[arg(long, default_value_t = 49_000, allow_negative_numbers = true)]
    pub num_train: usize,
    /// Validation images: the next N training images after the training split.
    #[arg(long, default_value_t = 1_000, allow_negative_numbers = true)]
    pub num_val: usize,
    /// Test images: the first N of test_batch.
    #[arg(long, default_value_t = 1_000, allow_negative_numbers = true)]
    pub num_test: usize,
}

#[derive(Debug, Clone, Args)]
pub struct DeviceArgs {
    /// Where to train: `gpu` (wgpu on a hardware adapter), `cpu` (Burn's flex
    /// backend), `ndarray` (Burn's deprecated CPU backend, for comparison) or
    /// `auto` (the GPU when one exists, else the CPU).
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
}

#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// How each step computes gradients: `fused` (a hand-written CPU step),
    /// `autodiff` (Burn's, on any device) or `auto` (fused on `--device cpu`,
    /// else autodiff).
    #[arg(long, value_enum, default_value_t = EngineChoice::Auto)]
    pub engine: EngineChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    Auto,
    Autodiff,
    Fused,
}

impl From<EngineChoice> for mlp_train::train::Engine {
    fn from(choice: EngineChoice) -> Self {
        match choice {
            EngineChoice::Auto => Self::Auto,
            EngineChoice::Autodiff => Self::Autodiff,
            EngineChoice::Fused => Self::Fused,
        }
    }
}

#[derive(Debug, Args)]
pub struct DepthStudyArgs {
    /// Depths to train, counted in Linear layers (2 = one hidden layer): `A..B` or `A`.
    #[arg(long, default_value = "2..6")]
    pub layers: LayerRange,
    /// Hidden widths, outermost first; a network of L layers uses the first L-1.
    #[arg(long, value_delimiter = ',', default_value = "50,40,30,25,20")]
    pub widths: Vec<usize>,
    /// What to compare at each depth: plain, kaiming, batchnorm, batchnorm-dropout.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "plain,kaiming,batchnorm,batchnorm-dropout"
    )]
    pub variants: Vec<Variant>,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Input preprocessing: assignment ((x/255-0.5)/0.5), standardize
    /// (per-channel train statistics) or mean-image.
    #[arg(long, default_value = "assignment")]
    pub preprocess: Preprocess,
    /// Directory for the CSV tables, plots and the command line.
    #[arg(long, default_value = "experiments")]
    pub out: PathBuf,
    #[command(flatten)]
    pub job: JobArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// How a long job treats earlier results and which part of it to run.
#[derive(Debug, Clone, Args)]
pub struct JobArgs {
    /// Finish an interrupted job in --out: keep its finished runs, train the
    /// rest. The arguments must be the ones it was started with. Starts
    /// afresh when --out holds nothing yet, so a requeued job can always pass it.
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Replace results already in --out (without it, the job refuses to
    /// overwrite finished runs).
    #[arg(long)]
    pub overwrite: bool,
    /// Train only the K-th of N disjoint slices of the runs (e.g. one task of
    /// a Slurm job array), into --out/shard-K-of-N; combine with `mlp-cli merge`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
}

/// The MLP training recipe (assignment Q4 defaults).
#[derive(Debug, Clone, Args)]
pub struct RecipeArgs {
    /// Passes over the training split.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true)]
    pub epochs: usize,
    /// Images per optimiser step.
    #[arg(long, default_value_t = 200, allow_negative_numbers = true)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3, allow_hyphen_values = true)]
    pub lr: f64,
    /// Learning-rate factor applied after every epoch.
    #[arg(long, default_value_t = 0.95, allow_hyphen_values = true)]
    pub lr_decay: f64,
    /// L2 weight decay added to the gradient (PyTorch Adam's weight_decay).
    #[arg(long, default_value_t = 1e-3, allow_hyphen_values = true)]
    pub weight_decay: f64,
    /// Seeds of the weights, dropout and shuffling: every configuration is
    /// trained once per seed and summarised as mean ± standard deviation.
    /// A list (0,1,2) or an inclusive range (0..4).
    #[arg(long, alias = "seed", default_value = "0")]
    pub seeds: SeedList,
}

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
    pub hidden: Vec<String>,
    /// Learning rates to try: a list (5e-4,1e-3), a range multiplied at each
    /// step (1e-4..1e-2:x10 gives 1e-4,1e-3,1e-2) or a range with an added
    /// step (1e-3..3e-3:1e-3); ranges include both ends.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5e-4,1e-3,2e-3",
        allow_hyphen_values = true
    )]
    pub lr: Vec<String>,
    /// Regularisation strengths to try: a list or a range, as for --lr
    /// (0.1..0.5:0.2 gives 0.1,0.3,0.5).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.1,0.25,0.5",
        allow_hyphen_values = true
    )]
    pub reg: Vec<String>,
    /// Iteration counts to try: a list or a range with step.
    #[arg(long, value_delimiter = ',', default_value = "2000", allow_hyphen_values = true)]
    pub iters: Vec<String>,
    #[command(flatten)]
    pub sgd: SgdArgs,
    /// Seeds (weights and minibatch draws): every grid point is trained once
    /// per seed and ranked by its mean validation accuracy. A list (0,1,2)
    /// or an inclusive range (0..4).
    #[arg(long, alias = "seed", default_value = "0")]
    pub seeds: SeedList,
    /// Trials trained at the same time [default: the number of CPU cores on
    /// the CPU, 1 on a GPU]. Results do not depend on it. Measured on 2 cores:
    /// a 4-trial sweep took 17.0 s with 1 job and 9.8 s with 2.
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

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Directory to download into; the archive extracts to DIR/cifar-10-batches-bin.
    #[arg(long, default_value = "data")]
    pub dir: PathBuf,
    /// Where to fetch the archive from: the dataset's home by default, or a
    /// mirror or proxy serving the same file (http or https).
    #[arg(long, default_value = mlp_data::CIFAR10_BINARY_URL)]
    pub url: String,
    /// The MD5 the archive must have (32 hex digits): the official archive's
    /// by default. Change it only for a mirror that repacks the files.
    #[arg(long, default_value = mlp_data::CIFAR10_BINARY_MD5, value_parser = parse_md5)]
    pub md5: String,
}

/// `--md5`: 32 hex digits, in either case.
fn parse_md5(value: &str) -> Result<String, String> {
    if value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(format!("'{value}' is not an MD5 (32 hexadecimal digits)"))
    }
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Models to time, as hidden widths: dash within a model, comma between models.
    #[arg(long, value_delimiter = ',', default_value = "50,50-40-30-25-20")]
    pub models: Vec<String>,
    /// Timed epochs per model (the table shows their median and minimum).
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    pub epochs: usize,
    /// Untimed epochs first (kernel compilation, allocator warm-up).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub warmup: usize,
    /// Synthetic training images per epoch (the assignment's 49,000).
    #[arg(long, default_value_t = 49_000, allow_negative_numbers = true)]
    pub num_train: usize,
    /// Synthetic validation images, evaluated at the end of every epoch.
    #[arg(long, default_value_t = 1_000, allow_negative_numbers = true)]
    pub num_val: usize,
    /// Images per optimiser step.
    #[arg(long, default_value_t = 200, allow_negative_numbers = true)]
    pub batch_size: usize,
    /// Side of the square f32 matrix product that measures the device's peak.
    #[arg(long, default_value_t = 2048, allow_negative_numbers = true)]
    pub peak_size: usize,
    /// Output: an aligned table, or CSV (the columns of scripts/pytorch_reference.py).
    #[arg(long, value_enum, default_value_t = BenchFormat::Table)]
    pub format: BenchFormat,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchFormat {
    Table,
    Csv,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard directories (…/shard-K-of-N), or one directory holding them.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the combined study [default: the directory that holds
    /// the shards, when they share one].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DataInfoArgs {
    /// CIFAR-10 directory: the binary layout (data_batch_1.bin …) or the
    /// Python layout (data_batch_1 …), or a directory holding
    /// cifar-10-batches-bin / cifar-10-batches-py.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Also count classes per split, the training split being the first N
    /// training images [default: 49000 when the data holds the full set].
    #[arg(long, allow_negative_numbers = true)]
    pub num_train: Option<usize>,
    /// Validation split: the next N training images [default: 1000].
    #[arg(long, allow_negative_numbers = true)]
    pub num_val: Option<usize>,
    /// Test split: the first N test images [default: 1000].
    #[arg(long, allow_negative_numbers = true)]
    pub num_test: Option<usize>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
