//! Command-line definitions. Doc comments become `--help`. The commands
//! and their own flags are here; shared flags in `shared`, the two-layer
//! commands in `two_layer`.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use mlp_data::Preprocess;
use mlp_model::Activation;
use mlp_train::bench::ModelWidths;
use mlp_train::experiments::Experiment;
use mlp_train::experiments::depth_study::Variant;
use mlp_train::ranges::{FloatRange, LayerRange};
use mlp_train::train::Optimizer;

mod shared;
mod two_layer;

pub use shared::{DataArgs, DeviceArgs, EngineArgs, JobArgs, NetworkJobsArgs, RecipeArgs, SoftwareGpuArgs};
pub use two_layer::{CheckArgs, TuneArgs, TwoLayerCommand, TwoLayerTrainArgs};

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

  # The from-scratch two-layer network: gradient checks, a run, a tuning run:
  mlp-cli two-layer check
  mlp-cli two-layer train --toy
  mlp-cli two-layer tune --hidden 50,100,200 --lr 5e-4,1e-3,2e-3 --reg 0.1,0.25 --iters 2000

Environment:
  MLP_ALLOW_SOFTWARE_GPU=1     the same as --allow-software-gpu
  CUBECL_WGPU_DEFAULT_DEVICE   which wgpu adapter --device gpu opens (read by Burn's wgpu backend:
                               Cpu, DiscreteGpu(0), IntegratedGpu(0), ...)
  MLP_MEMORY_LIMIT=8G          caps the memory training may fill (below MemAvailable and the cgroup's
                               limit, which are always read): a run estimated above it is refused

Exit status:
  0    success
  1    error (bad data or files, a failed job, a run too large for the memory; the message says
       what and where)
  2    usage error (an unknown flag or a bad value, named by the message)
  130  stopped by Ctrl-C (SIGINT) after saving every finished run
  143  stopped by SIGTERM (e.g. Slurm before a time limit) after saving every finished run";

/// A parser for a library enum's names (`FromStr`), listing them in `--help`.
fn names<T>(names: impl IntoIterator<Item = &'static str>) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Debug,
{
    PossibleValuesParser::new(names).map(|name| name.parse::<T>().expect("every listed name parses"))
}

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
    /// Map where depth stops being trainable: plain ReLU MLPs of one width at
    /// every depth × initial gain (std = gain / sqrt(fan_in)); writes
    /// trainability.csv and a heat map of mean test accuracy.
    Trainability(TrainabilityArgs),
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
    DeviceInfo(DeviceInfoArgs),
    /// Time the assignment's MLPs ([50] and [50,40,30,25,20]) through the real
    /// training path on full-size synthetic data: seconds per epoch, images
    /// per second, peak memory, GFLOP/s and the share of the measured matmul peak.
    Bench(BenchArgs),
    /// Combine the shards of a depth study, a trainability map or a tuning
    /// run (`--shard K/N`) into the tables and plots of a single run; refuses
    /// shards that do not belong together.
    Merge(MergeArgs),
    /// Print a shell completion script, e.g. `mlp-cli completions bash >
    /// ~/.local/share/bash-completion/completions/mlp-cli`.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DeviceInfoArgs {
    #[command(flatten)]
    pub software_gpu: SoftwareGpuArgs,
}

impl Command {
    /// The experiment the command runs as a job, if it runs one.
    pub fn experiment(&self) -> Option<Experiment> {
        match self {
            Command::DepthStudy(_) => Some(Experiment::DepthStudy),
            Command::Trainability(_) => Some(Experiment::Trainability),
            Command::TwoLayer(TwoLayerCommand::Tune(_)) => Some(Experiment::Tuning),
            Command::TwoLayer(TwoLayerCommand::Check(_) | TwoLayerCommand::Train(_))
            | Command::Download(_)
            | Command::DataInfo(_)
            | Command::DeviceInfo(_)
            | Command::Bench(_)
            | Command::Merge(_)
            | Command::Completions(_) => None,
        }
    }

    /// Whether the command trains and saves its work as it goes (every
    /// experiment's job, and `two-layer train`, which writes what it has
    /// when stopped), so Ctrl-C should let it stop cleanly.
    pub fn saves_runs(&self) -> bool {
        self.experiment().is_some() || matches!(self, Command::TwoLayer(TwoLayerCommand::Train(_)))
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
    /// Every hidden layer this wide, at any depth (instead of --widths): e.g.
    /// `--layers 2..20 --width 50`. Equal widths also make every hidden layer
    /// after the first residual in the `residual` variant.
    #[arg(long, conflicts_with = "widths", value_parser = parse_width)]
    pub width: Option<usize>,
    /// What to compare at each depth (comma-separated; `residual` is not in
    /// the default list).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "plain,kaiming,batchnorm,batchnorm-dropout",
        value_parser = names::<Variant>(Variant::ALL.map(Variant::name))
    )]
    pub variants: Vec<Variant>,
    /// The hidden layers' nonlinearity: relu (the assignment's) or tanh
    /// (compare it with --variants plain,xavier,batchnorm: tanh saturates
    /// where ReLU dies).
    #[arg(long, default_value = "relu", value_parser = names::<Activation>(Activation::ALL.map(Activation::name)))]
    pub activation: Activation,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Input preprocessing: assignment ((x/255-0.5)/0.5), standardize
    /// (per-channel train statistics) or mean-image.
    #[arg(long, default_value = "assignment", value_parser = names::<Preprocess>(Preprocess::ALL.map(Preprocess::name)))]
    pub preprocess: Preprocess,
    /// Skip the dynamics probe: per-layer activation statistics, dead ReLUs,
    /// gradient norms and update ratios at init and after every epoch, on a
    /// fixed batch of 500 training images (depth_study_dynamics.csv and
    /// .png). The training and its results are the same either way.
    #[arg(long)]
    pub no_dynamics: bool,
    /// The depth whose dynamics are drawn in depth_study_dynamics.png
    /// (default: the deepest); the CSV has every depth.
    #[arg(long, value_name = "L", conflicts_with = "no_dynamics")]
    pub dynamics_depth: Option<usize>,
    /// Directory for the CSV tables, plots and the command line.
    #[arg(long, default_value = "experiments")]
    pub out: PathBuf,
    #[command(flatten)]
    pub job: JobArgs,
    #[command(flatten)]
    pub jobs: NetworkJobsArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct TrainabilityArgs {
    /// Depths to train, counted in Linear layers: ranges `A..B` and single
    /// depths, comma-separated (`2..10,15,20,30,50,75,100`).
    #[arg(long, value_delimiter = ',', default_value = "2..20")]
    pub layers: Vec<LayerRange>,
    /// Width of every hidden layer.
    #[arg(long, default_value_t = 50, value_parser = parse_width)]
    pub width: usize,
    /// Initial gains: a list (0.5,1.414), a range multiplied at each step
    /// (0.25..2.83:x1.41421 gives 0.25, 0.354, ..., 2.83) or a range with an
    /// added step. sqrt(2) = 1.414 is the critical gain for ReLU (Kaiming's);
    /// trainability_theory.csv gives it for any activation and bias std.
    #[arg(
        long,
        visible_alias = "init-gains",
        value_delimiter = ',',
        default_value = "0.125,0.25,0.5,0.707,1,1.414,2,2.828"
    )]
    pub gains: Vec<FloatRange>,
    /// The hidden layers' nonlinearity: relu or tanh.
    #[arg(long, default_value = "relu", value_parser = names::<Activation>(Activation::ALL.map(Activation::name)))]
    pub activation: Activation,
    /// The std of every bias at initialisation (the mean-field theory's
    /// sigma_b; e.g. 0.2236 for sigma_b^2 = 0.05); 0 starts them at zero.
    #[arg(long, default_value_t = 0.0, value_parser = parse_bias_std, allow_negative_numbers = true)]
    pub bias_std: f64,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Input preprocessing: assignment ((x/255-0.5)/0.5), standardize
    /// (per-channel train statistics) or mean-image.
    #[arg(long, default_value = "assignment", value_parser = names::<Preprocess>(Preprocess::ALL.map(Preprocess::name)))]
    pub preprocess: Preprocess,
    /// The optimiser: adam, or sgd (plain SGD with the same lr schedule and
    /// L2 term; on the CPU it trains through autodiff, and it usually wants
    /// a larger --lr).
    #[arg(long, default_value = "adam", value_parser = names::<Optimizer>(Optimizer::ALL.map(Optimizer::name)))]
    pub optimizer: Optimizer,
    /// Directory for trainability.csv, the heat map and the command line.
    #[arg(long, default_value = "experiments/trainability")]
    pub out: PathBuf,
    #[command(flatten)]
    pub job: JobArgs,
    #[command(flatten)]
    pub jobs: NetworkJobsArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
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

/// `--width`: a whole number of units, at least 1.
fn parse_width(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(width) if width > 0 => Ok(width),
        _ => Err(format!(
            "'{value}' is not a layer width (a whole number of units, at least 1)"
        )),
    }
}

/// `--bias-std`: a finite number, 0 or more.
fn parse_bias_std(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(std) if std.is_finite() && std >= 0.0 => Ok(std),
        _ => Err(format!("'{value}' is not a standard deviation (a finite number, 0 or more)")),
    }
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
    pub models: Vec<ModelWidths>,
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
    /// Networks of each model trained together: on the CPU's fused engine
    /// K networks of one seed sharing each pass over the data, on the
    /// stacked engine (a GPU's default) one batched group of seeds 0..K.
    /// The table then shows what K networks cost against K = 1.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub networks: usize,
    /// Side of the square f32 matrix product that measures the device's peak
    /// (Burn's matmul and, on the CPU, the fused engine's split gemm; measured
    /// before and after the models, the best kept).
    #[arg(long, default_value_t = 2048, allow_negative_numbers = true)]
    pub peak_size: usize,
    /// Output: an aligned table, CSV (the columns of scripts/pytorch_reference.py)
    /// or JSON (an array of those rows).
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
    Json,
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
    /// Output: text for people, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = InfoFormat::Text)]
    pub format: InfoFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InfoFormat {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
