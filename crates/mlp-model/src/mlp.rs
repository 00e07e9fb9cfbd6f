//! `input -> [Linear -> (BatchNorm) -> activation -> (Dropout) (+ input)] x len(hidden) -> Linear -> logits`,
//! the activation ReLU (the assignment's) or tanh.

use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use rand_burn::SeedableRng;
use rand_burn::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::activation::Activation;

/// How every Linear weight is initialised. Biases start at zero, as in the
/// assignment, unless [`MlpConfig::bias_std`] says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightInit {
    /// `Normal(0, std)`; the assignment uses std = 1e-3, which makes deep
    /// ReLU stacks collapse because every layer shrinks the signal ~100x.
    Normal { std: f64 },
    /// Kaiming (He) normal, `std = sqrt(2 / fan_in)`: keeps the variance of a
    /// ReLU layer's output equal to its input's, so depth does not shrink it.
    Kaiming,
    /// `Normal(0, gain / sqrt(fan_in))`: the initial scale as a dial. For ReLU
    /// layers the critical gain is sqrt(2) (Kaiming's); below it the signal
    /// shrinks with every layer, above it it grows.
    Gain { gain: f64 },
    /// Xavier (Glorot) normal, `std = sqrt(2 / (fan_in + fan_out))`: Glorot
    /// and Bengio's scale for tanh layers, which keeps the variance of both
    /// the forward signal and the backward gradient roughly level.
    Xavier,
}

impl WeightInit {
    /// The assignment's initialisation, `Normal(0, 1e-3)`.
    pub const ASSIGNMENT: WeightInit = WeightInit::Normal { std: 1e-3 };

    /// The distribution of a weight with `fan_in` inputs, computed as Burn's
    /// initializer computes it (so [`MlpConfig::init_seeded`] draws what
    /// Burn would).
    fn distribution(self, fan_in: usize, fan_out: usize) -> Distribution {
        match self {
            WeightInit::Normal { std } => Distribution::Normal(0.0, std),
            WeightInit::Kaiming => WeightInit::Gain {
                gain: std::f64::consts::SQRT_2,
            }
            .distribution(fan_in, fan_out),
            WeightInit::Gain { gain } => Distribution::Normal(0.0, gain * (1.0 / (fan_in as f64).sqrt())),
            WeightInit::Xavier => Distribution::Normal(0.0, (2.0 / (fan_in + fan_out) as f64).sqrt()),
        }
    }

    fn initializer(self) -> Initializer {
        match self {
            WeightInit::Normal { std } => Initializer::Normal { mean: 0.0, std },
            WeightInit::Kaiming => WeightInit::Gain {
                gain: std::f64::consts::SQRT_2,
            }
            .initializer(),
            // Burn's Kaiming normal draws with std = gain / sqrt(fan_in).
            WeightInit::Gain { gain } => Initializer::KaimingNormal {
                gain,
                fan_out_only: false,
            },
            WeightInit::Xavier => Initializer::XavierNormal { gain: 1.0 },
        }
    }

    /// The gain this initialisation has for a layer with `fan_in` inputs:
    /// `std * sqrt(fan_in)` (the assignment's std 1e-3 is a gain of 0.055 at
    /// fan-in 3,072 and 0.007 at fan-in 50; Xavier's is
    /// `sqrt(2 fan_in / (fan_in + fan_out))`, 1 where the widths are equal).
    pub fn effective_gain(self, fan_in: usize, fan_out: usize) -> f64 {
        match self {
            WeightInit::Normal { std } => std * (fan_in as f64).sqrt(),
            WeightInit::Kaiming => std::f64::consts::SQRT_2,
            WeightInit::Gain { gain } => gain,
            WeightInit::Xavier => (2.0 * fan_in as f64 / (fan_in + fan_out) as f64).sqrt(),
        }
    }
}

impl std::fmt::Display for WeightInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WeightInit::Normal { std } => write!(f, "normal({std})"),
            WeightInit::Kaiming => write!(f, "kaiming"),
            WeightInit::Gain { gain } => write!(f, "gain({gain})"),
            WeightInit::Xavier => write!(f, "xavier"),
        }
    }
}

/// Configuration of an [`Mlp`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Hidden layer widths, one entry per hidden layer; empty gives the linear
    /// (softmax) classifier.
    pub hidden: Vec<usize>,
    /// Features per input, 3,072 for a flattened CIFAR-10 image.
    #[config(default = 3072)]
    pub input: usize,
    /// Number of classes (logits).
    #[config(default = 10)]
    pub classes: usize,
    /// BatchNorm after each hidden Linear, before the activation.
    #[config(default = false)]
    pub batch_norm: bool,
    /// Dropout probability after each hidden activation; 0 disables it.
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Weight initialisation of every Linear layer.
    #[config(default = "WeightInit::ASSIGNMENT")]
    pub init: WeightInit,
    /// The nonlinearity of every hidden layer.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// The std of every Linear bias at initialisation, `Normal(0, bias_std)`
    /// (the mean-field theory's sigma_b); 0, the default, starts them at zero.
    #[config(default = 0.0)]
    pub bias_std: f64,
    /// Residual hidden layers: a hidden layer whose input and output widths
    /// are equal adds its input to its output, `x + block(x)`, so the signal
    /// has a path around every such layer however small its weights.
    #[config(default = false)]
    pub residual: bool,
}

impl MlpConfig {
    /// Number of Linear layers, the "depth" the assignment counts.
    pub fn linear_layers(&self) -> usize {
        self.hidden.len() + 1
    }

    /// Builds the model on `device`, its weights drawn from Burn's random
    /// generator before it returns (seed the device first for reproducible
    /// weights). Training uses [`init_seeded`](Self::init_seeded).
    pub fn init(&self, device: &Device) -> Mlp {
        let model = self.build(|d_in, d_out| self.linear(d_in, d_out, device), device);
        // Burn draws a weight when it is first read. Read them all now, in
        // layer order, so that they depend on the seed alone: not on what a
        // caller draws before a layer's first use (the dropout masks of the
        // layers before it in a first training pass) nor on the order in
        // which a caller reads them.
        let _ = model.linear_weights();
        model
    }

    /// Builds the model on `device` with its weights drawn from a generator
    /// of its own, seeded by `seed`, layer after layer: no process-wide
    /// generator, so nothing another thread draws can change them, and the
    /// same weights on every device. They are bit for bit the weights Burn's
    /// flex CPU device draws in [`init`](Self::init) after `seed(seed)`
    /// (tested): the same generator (rand 0.10's `StdRng`), the same
    /// distributions, the same order.
    pub fn init_seeded(&self, seed: u64, device: &Device) -> Mlp {
        let rng = std::cell::RefCell::new(StdRng::seed_from_u64(seed));
        self.build(
            |d_in, d_out| {
                let mut linear = self.linear(d_in, d_out, device);
                let weights = TensorData::random::<f32, _, _>(
                    [d_in, d_out],
                    self.init.distribution(d_in, d_out),
                    &mut *rng.borrow_mut(),
                );
                // Replaces Burn's lazy weight before anything reads (draws) it.
                linear.weight = Param::from_tensor(Tensor::from_data(weights, device));
                // The bias after its weight, and only when it is random: a
                // zero-bias network draws exactly what it drew before biases
                // could be random.
                if self.bias_std > 0.0 {
                    let bias = TensorData::random::<f32, _, _>(
                        [d_out],
                        Distribution::Normal(0.0, self.bias_std),
                        &mut *rng.borrow_mut(),
                    );
                    linear.bias = Some(Param::from_tensor(Tensor::from_data(bias, device)));
                }
                linear
            },
            device,
        )
    }

    /// The model's structure on `device` with no weight or bias drawn or
    /// allocated: Burn's lazy parameters, for a caller that sets every one
    /// of them (the fused engine writing trained weights into an evaluation
    /// model). A parameter read before it is set is drawn then, from Burn's
    /// generator. BatchNorm's running statistics are allocated (`width`
    /// values each).
    pub fn skeleton(&self, device: &Device) -> Mlp {
        self.build(|d_in, d_out| LinearConfig::new(d_in, d_out).init(device), device)
    }

    /// The model with every Linear layer from `linear(d_in, d_out)`, first to last.
    fn build(&self, linear: impl Fn(usize, usize) -> Linear, device: &Device) -> Mlp {
        let mut d_in = self.input;
        let mut hidden = Vec::with_capacity(self.hidden.len());
        for &width in &self.hidden {
            hidden.push(HiddenBlock {
                linear: linear(d_in, width),
                norm: self.batch_norm.then(|| BatchNormConfig::new(width).init(device)),
                activation: self.activation,
                dropout: (self.dropout > 0.0).then(|| DropoutConfig::new(self.dropout).init()),
                residual: self.residual && d_in == width,
            });
            d_in = width;
        }
        Mlp {
            hidden,
            output: linear(d_in, self.classes),
        }
    }

    fn linear(&self, d_in: usize, d_out: usize, device: &Device) -> Linear {
        let mut linear = LinearConfig::new(d_in, d_out)
            .with_initializer(self.init.initializer())
            .init(device);
        // Burn initialises the bias with the weight's initializer; the assignment
        // (and PyTorch's practice for these studies) starts biases at zero.
        let bias = match self.bias_std > 0.0 {
            true => Tensor::random([d_out], Distribution::Normal(0.0, self.bias_std), device),
            false => Tensor::zeros([d_out], device),
        };
        linear.bias = Some(Param::from_tensor(bias));
        linear
    }
}

/// One hidden layer: `Linear -> (BatchNorm) -> activation -> (Dropout)`,
/// plus its input when residual.
#[derive(Module, Debug)]
pub struct HiddenBlock {
    pub linear: Linear,
    pub norm: Option<BatchNorm>,
    /// Not a parameter: a setting of the layer, kept as it is by every
    /// module operation.
    #[module(skip)]
    pub activation: Activation,
    pub dropout: Option<Dropout>,
    /// Adds the input to the output (only when d_in == d_out).
    pub residual: bool,
}

impl HiddenBlock {
    /// x: [batch, d_in] -> [batch, d_out]
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_with(x, None)
    }

    /// [`forward`](Self::forward) with `mask` (see [`Mlp::forward_masked`])
    /// in place of the dropout layer's own draw, when there is a dropout layer.
    fn forward_with(&self, x: Tensor<2>, mask: Option<Tensor<2>>) -> Tensor<2> {
        let input = self.residual.then(|| x.clone());
        let mut x = self.linear.forward(x);
        if let Some(norm) = &self.norm {
            x = norm.forward(x);
        }
        x = self.activation.forward(x);
        if let Some(dropout) = &self.dropout {
            x = match mask {
                Some(mask) => x * mask,
                None => dropout.forward(x),
            };
        }
        match input {
            Some(input) => input + x,
            None => x,
        }
    }
}

/// What one hidden layer computed in [`Mlp::forward_pure`].
#[derive(Debug, Clone)]
pub struct HiddenTrace {
    /// The activation's output, before dropout and the residual sum: [batch, width]
    pub activated: Tensor<2>,
    /// The layer's output, what the next layer reads: [batch, width]
    pub output: Tensor<2>,
}

/// The statistics BatchNorm normalises with in [`Mlp::forward_pure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormStatistics {
    /// The running statistics, as the eval-mode network does.
    Running,
    /// The batch's own mean and variance, as a training step does.
    Batch,
}

impl HiddenBlock {
    /// See [`Mlp::forward_pure`]. x: [batch, d_in] -> [batch, d_out]
    fn forward_pure(&self, x: Tensor<2>, statistics: NormStatistics) -> HiddenTrace {
        let mut z = self.linear.forward(x.clone());
        if let Some(norm) = &self.norm {
            let (gamma, beta) = (norm.gamma.val(), norm.beta.val());
            z = match statistics {
                NormStatistics::Batch => burn::tensor::module::batch_norm_train(z, gamma, beta, norm.epsilon).output,
                NormStatistics::Running => {
                    let device = z.device();
                    // `value` may lag one training update behind on this
                    // thread; `value_sync` folds it in (as the next training
                    // pass would) and changes nothing else.
                    let mean = norm.running_mean.value_sync().to_device(&device);
                    let var = norm.running_var.value_sync().to_device(&device);
                    burn::tensor::module::batch_norm(z, gamma, beta, mean, var, norm.epsilon)
                }
            };
        }
        let activated = self.activation.forward(z);
        let output = match self.residual {
            true => x + activated.clone(),
            false => activated.clone(),
        };
        HiddenTrace { activated, output }
    }
}

/// Multi-layer perceptron with any number of hidden layers.
#[derive(Module, Debug)]
pub struct Mlp {
    pub hidden: Vec<HiddenBlock>,
    pub output: Linear,
}

impl Mlp {
    /// x: [batch, input] -> logits [batch, classes]
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = self.hidden.iter().fold(x, |x, block| block.forward(x));
        self.output.forward(x)
    }

    /// Like [`forward`](Self::forward), also returning every hidden activation
    /// (after the activation and dropout), to show how the signal shrinks or survives with depth.
    ///
    /// x: [batch, input] -> (logits [batch, classes], per hidden layer [batch, width])
    pub fn forward_trace(&self, x: Tensor<2>) -> (Tensor<2>, Vec<Tensor<2>>) {
        let mut activations = Vec::with_capacity(self.hidden.len());
        let mut x = x;
        for block in &self.hidden {
            x = block.forward(x);
            activations.push(x.clone());
        }
        (self.output.forward(x), activations)
    }

    /// A training pass whose dropout layers apply the caller's masks instead
    /// of drawing their own from Burn's process-wide generator: `masks[l]`
    /// ([batch, width of hidden layer l], 0 or `1 / (1 - p)` per unit) is
    /// hidden layer `l`'s (ignored where a layer has no dropout), so a
    /// caller can draw them from a generator of its own. Everything else is
    /// [`forward_trace`](Self::forward_trace)'s, BatchNorm's training
    /// statistics included.
    ///
    /// x: [batch, input] -> (logits [batch, classes], per hidden layer [batch, width])
    pub fn forward_masked(&self, x: Tensor<2>, masks: &[Tensor<2>]) -> (Tensor<2>, Vec<Tensor<2>>) {
        assert_eq!(masks.len(), self.hidden.len(), "one dropout mask per hidden layer");
        let mut activations = Vec::with_capacity(self.hidden.len());
        let mut x = x;
        for (block, mask) in self.hidden.iter().zip(masks) {
            x = block.forward_with(x, Some(mask.clone()));
            activations.push(x.clone());
        }
        (self.output.forward(x), activations)
    }

    /// The dropout probability of the hidden layers (0 without dropout).
    pub fn dropout(&self) -> f64 {
        self.hidden
            .iter()
            .find_map(|block| block.dropout.as_ref())
            .map_or(0.0, |dropout| dropout.prob)
    }

    /// The activation of the hidden layers (ReLU for the linear classifier,
    /// which has none).
    pub fn activation(&self) -> Activation {
        self.hidden.first().map_or(Activation::Relu, |block| block.activation)
    }

    /// The widths of the hidden layers, first to last.
    pub fn hidden_widths(&self) -> Vec<usize> {
        self.hidden.iter().map(|block| block.linear.weight.dims()[1]).collect()
    }

    /// The forward pass as a pure function of the weights and `x`, on any
    /// device, with what every hidden layer computed: dropout passes its
    /// input through, BatchNorm normalises with `statistics` and leaves its
    /// running statistics alone, and nothing is drawn from Burn's random
    /// generator (a training-mode pass changes the first and draws from the
    /// second). On an autodiff device it gives gradients too. With
    /// `Running` it computes `forward` of the eval-mode model; with `Batch`,
    /// that of a training step without dropout.
    ///
    /// x: [batch, input] -> (logits [batch, classes], one trace per hidden layer)
    pub fn forward_pure(&self, x: Tensor<2>, statistics: NormStatistics) -> (Tensor<2>, Vec<HiddenTrace>) {
        let mut traces = Vec::with_capacity(self.hidden.len());
        let mut x = x;
        for block in &self.hidden {
            let trace = block.forward_pure(x, statistics);
            x = trace.output.clone();
            traces.push(trace);
        }
        (self.output.forward(x), traces)
    }

    /// The weights of every Linear layer, first to last: [d_in, d_out] each.
    pub fn linear_weights(&self) -> Vec<Tensor<2>> {
        self.hidden
            .iter()
            .map(|block| &block.linear.weight)
            .chain(std::iter::once(&self.output.weight))
            .map(|weight| weight.val())
            .collect()
    }

    /// Number of Linear layers.
    pub fn linear_layers(&self) -> usize {
        self.hidden.len() + 1
    }
}
