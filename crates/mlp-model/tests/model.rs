//! mlp-model tests: the scratch two-layer network against the assignment's
//! reference numbers, and the configurable MLP's shapes and modes.

mod mlp {
    use burn::module::Param;
    use burn::prelude::*;
    use mlp_model::{Activation, MlpConfig, NormStatistics, WeightInit};

    fn device() -> Device {
        Device::flex()
    }

    fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_into_vec_as::<f32>().unwrap()
    }

    /// The root mean square of `t` (its std about zero).
    fn rms<const D: usize>(t: Tensor<D>) -> f64 {
        t.square().mean().sqrt().into_scalar::<f64>()
    }

    #[test]
    fn output_shapes_for_depths_1_to_8() {
        let device = device();
        for layers in 1..=8usize {
            let hidden: Vec<usize> = (0..layers - 1).map(|i| 20 - i).collect();
            for batch_norm in [false, true] {
                let config = MlpConfig::new(hidden.clone())
                    .with_input(12)
                    .with_batch_norm(batch_norm)
                    .with_dropout(0.4);
                let model = config.init(&device);
                assert_eq!(model.linear_layers(), layers);
                let x = Tensor::<2>::ones([7, 12], &device);
                assert_eq!(model.forward(x.clone()).dims(), [7, 10]);
                let (logits, acts) = model.forward_trace(x);
                assert_eq!(logits.dims(), [7, 10]);
                let widths: Vec<usize> = acts.iter().map(|a| a.dims()[1]).collect();
                assert_eq!(widths, hidden);
            }
        }
    }

    #[test]
    fn exact_outputs_with_constant_weights() {
        let device = device();
        let mut model = MlpConfig::new(vec![4, 3]).with_input(5).with_classes(2).init(&device);
        let fill = |shape: [usize; 2], v: f64| Param::from_tensor(Tensor::full(shape, v, &device));
        model.hidden[0].linear.weight = fill([5, 4], 0.5);
        model.hidden[1].linear.weight = fill([4, 3], 0.2);
        model.output.weight = fill([3, 2], -0.5);
        model.output.bias = Some(Param::from_tensor(Tensor::full([2], 0.25, &device)));
        // Row 1 sums to 3: layer 1 = 3 * 0.5 = 1.5, layer 2 = 4 * 1.5 * 0.2 = 1.2,
        // logits = 3 * 1.2 * -0.5 + 0.25 = -1.55. Row 2 is its negation: ReLU
        // zeroes layer 1, so the logits are the bias alone.
        let x = Tensor::<2>::from_floats([[1.0, -2.0, 3.0, 0.0, 1.0], [-1.0, 2.0, -3.0, 0.0, -1.0]], &device);
        let out = floats(model.forward(x));
        let expected = [-1.55f32, -1.55, 0.25, 0.25];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-6, "{out:?} != {expected:?}");
        }
    }

    /// A skeleton has the model's layers and shapes but allocates and draws
    /// none of its weights or biases: a caller writing trained weights into
    /// it (the fused engine's evaluation models) keeps no other copy.
    #[test]
    fn a_skeleton_has_every_shape_and_no_weight() {
        let device = device();
        let config = MlpConfig::new(vec![50, 40])
            .with_batch_norm(true)
            .with_dropout(0.2)
            .with_bias_std(0.1);
        let skeleton = config.skeleton(&device);
        let linears: Vec<_> = skeleton
            .hidden
            .iter()
            .map(|block| &block.linear)
            .chain([&skeleton.output])
            .collect();
        let shapes = [[3072, 50], [50, 40], [40, 10]];
        assert_eq!(linears.len(), shapes.len());
        for (linear, shape) in linears.into_iter().zip(shapes) {
            assert!(!linear.weight.is_initialized(), "{shape:?} weight was drawn");
            assert_eq!(linear.weight.lazy_shape().dims::<2>(), shape);
            let bias = linear.bias.as_ref().expect("every layer has a bias");
            assert!(!bias.is_initialized(), "{shape:?} bias was drawn");
            assert_eq!(bias.lazy_shape().dims::<1>(), [shape[1]]);
        }
        assert!(skeleton.hidden.iter().all(|b| b.norm.is_some() && b.dropout.is_some()));
        // What `init` builds has them drawn.
        assert!(config.init_seeded(0, &device).output.weight.is_initialized());
    }

    #[test]
    fn biases_start_at_zero_and_init_scales_differ() {
        let device = device();
        device.seed(3);
        let plain = MlpConfig::new(vec![256]).init(&device);
        let kaiming = MlpConfig::new(vec![256]).with_init(WeightInit::Kaiming).init(&device);
        let bias = plain.hidden[0].linear.bias.as_ref().unwrap().val();
        assert_eq!(bias.abs().sum().into_scalar::<f64>(), 0.0);
        let std = |w: Tensor<2>| w.square().mean().sqrt().into_scalar::<f64>();
        let plain_std = std(plain.hidden[0].linear.weight.val());
        let kaiming_std = std(kaiming.hidden[0].linear.weight.val());
        // Normal(0, 1e-3) vs He: sqrt(2 / 3072) = 0.0255.
        assert!((plain_std - 1e-3).abs() < 5e-5, "{plain_std}");
        assert!((kaiming_std - (2.0f64 / 3072.0).sqrt()).abs() < 1e-3, "{kaiming_std}");
    }

    #[test]
    fn a_gain_sets_the_weight_scale_and_kaiming_is_gain_sqrt_2() {
        let device = device();
        let std = |w: Tensor<2>| w.square().mean().sqrt().into_scalar::<f64>();
        for gain in [0.1, 1.0, std::f64::consts::SQRT_2, 4.0] {
            device.seed(5);
            let model = MlpConfig::new(vec![256, 256])
                .with_init(WeightInit::Gain { gain })
                .init(&device);
            for (block, fan_in) in model.hidden.iter().zip([3072.0f64, 256.0]) {
                let measured = std(block.linear.weight.val());
                let expected = gain / fan_in.sqrt();
                assert!(
                    (measured / expected - 1.0).abs() < 0.02,
                    "gain {gain}: std {measured} vs {expected}"
                );
            }
        }
        // Kaiming is gain sqrt(2). (Statistically: Burn's generator is one per
        // process, so a test running beside this one may draw between the
        // seed and the init, and exact draws cannot be compared.)
        let kaiming = MlpConfig::new(vec![256]).with_init(WeightInit::Kaiming).init(&device);
        let measured = std(kaiming.hidden[0].linear.weight.val());
        assert!(
            (measured * 3072f64.sqrt() / std::f64::consts::SQRT_2 - 1.0).abs() < 0.02,
            "{measured}"
        );
        assert_eq!(WeightInit::Kaiming.effective_gain(3072, 50), std::f64::consts::SQRT_2);
        // The assignment's Normal(0, 1e-3) as a gain: 1e-3 * sqrt(fan_in).
        assert!((WeightInit::ASSIGNMENT.effective_gain(3072, 50) - 0.0554).abs() < 1e-4);
        assert!((WeightInit::ASSIGNMENT.effective_gain(50, 40) - 0.00707).abs() < 1e-5);
        assert_eq!(WeightInit::Gain { gain: 2.0 }.to_string(), "gain(2)");
    }

    #[test]
    fn tanh_layers_compute_tanh_and_keep_relus_numbers_otherwise() {
        let device = device();
        let x = Tensor::<2>::from_floats([[1.0, -2.0, 3.0, 0.0, 1.0], [-1.0, 2.0, -3.0, 0.0, -1.0]], &device);
        let config = MlpConfig::new(vec![4]).with_input(5).with_classes(2);
        let tanh = config.clone().with_activation(Activation::Tanh).init_seeded(3, &device);
        let relu = config.init_seeded(3, &device);
        // The same weights: the activation draws nothing.
        assert_eq!(
            floats(tanh.hidden[0].linear.weight.val()),
            floats(relu.hidden[0].linear.weight.val())
        );
        assert_eq!(tanh.activation(), Activation::Tanh);
        let (_, traces) = tanh.forward_pure(x.clone(), NormStatistics::Running);
        let z = floats(tanh.hidden[0].linear.forward(x));
        for (a, z) in floats(traces[0].activated.clone()).iter().zip(&z) {
            assert!((a - z.tanh()).abs() < 1e-6, "{a} != tanh({z})");
        }
    }

    #[test]
    fn random_biases_have_their_std_and_leave_the_weights_drawn_before_them() {
        let device = device();
        let plain = MlpConfig::new(vec![400, 400]).init_seeded(5, &device);
        let biased = MlpConfig::new(vec![400, 400])
            .with_bias_std(0.3)
            .init_seeded(5, &device);
        // Layer 1's weight is drawn first either way; its bias comes after it.
        assert_eq!(
            floats(plain.hidden[0].linear.weight.val()),
            floats(biased.hidden[0].linear.weight.val())
        );
        for block in &biased.hidden {
            let bias = block.linear.bias.as_ref().unwrap().val();
            let measured = rms(bias);
            assert!((measured / 0.3 - 1.0).abs() < 0.15, "bias std {measured}");
        }
        let zero = plain.hidden[1].linear.bias.as_ref().unwrap().val();
        assert!(floats(zero).iter().all(|&b| b == 0.0));
    }

    #[test]
    fn xavier_is_glorots_normal_scale() {
        let device = device();
        let model = MlpConfig::new(vec![1000])
            .with_input(3000)
            .with_init(WeightInit::Xavier)
            .init_seeded(1, &device);
        let measured = rms(model.hidden[0].linear.weight.val());
        let expected = (2.0f64 / 4000.0).sqrt();
        assert!((measured / expected - 1.0).abs() < 0.01, "{measured} vs {expected}");
        assert!((WeightInit::Xavier.effective_gain(50, 50) - 1.0).abs() < 1e-12);
        assert!((WeightInit::Xavier.effective_gain(3072, 50) - (6144.0f64 / 3122.0).sqrt()).abs() < 1e-12);
        assert_eq!(WeightInit::Xavier.to_string(), "xavier");
    }

    #[test]
    fn residual_layers_add_their_input_where_the_widths_match() {
        let device = device();
        let mut model = MlpConfig::new(vec![4, 4, 3])
            .with_input(5)
            .with_classes(2)
            .with_residual(true)
            .init(&device);
        let residual: Vec<bool> = model.hidden.iter().map(|b| b.residual).collect();
        // 5 -> 4 changes width, 4 -> 4 keeps it, 4 -> 3 changes it.
        assert_eq!(residual, [false, true, false]);
        let fill = |shape: [usize; 2], v: f64| Param::from_tensor(Tensor::full(shape, v, &device));
        model.hidden[0].linear.weight = fill([5, 4], 0.5);
        model.hidden[1].linear.weight = fill([4, 4], 0.25);
        model.hidden[2].linear.weight = fill([4, 3], 0.1);
        model.output.weight = fill([3, 2], 1.0);
        // A row summing to 2: layer 1 = 1.0 each; layer 2 = 1.0 + ReLU(4 * 0.25) = 2.0;
        // layer 3 = ReLU(4 * 2.0 * 0.1) = 0.8; logits = 3 * 0.8 = 2.4.
        let x = Tensor::<2>::from_floats([[1.0, 1.0, 0.0, 0.0, 0.0]], &device);
        let (logits, acts) = model.forward_trace(x);
        assert_eq!(floats(acts[1].clone()), [2.0; 4]);
        for o in floats(logits) {
            assert!((o - 2.4).abs() < 1e-6, "{o}");
        }
        // With weights this small the residual path carries the signal through:
        // the plain stack's activation shrinks ~100x per layer, the residual one's does not.
        device.seed(1);
        let rms = |residual: bool| {
            device.seed(1);
            let model = MlpConfig::new(vec![50; 6]).with_residual(residual).init(&device);
            let x = Tensor::<2>::random([64, 3072], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
            let (_, acts) = model.forward_trace(x);
            acts.last().unwrap().clone().square().mean().sqrt().into_scalar::<f64>()
        };
        let (plain, residual) = (rms(false), rms(true));
        assert!(plain < 1e-10, "{plain}");
        assert!(residual > 1e-3, "{residual}");
    }

    #[test]
    fn the_pure_forward_matches_eval_and_training_and_leaves_the_state_alone() {
        let ad = device().autodiff();
        let x = Tensor::<2>::random([9, 8], burn::tensor::Distribution::Normal(0.5, 2.0), &ad);
        let model = MlpConfig::new(vec![6, 6, 5])
            .with_input(8)
            .with_classes(3)
            .with_batch_norm(true)
            .with_dropout(0.3)
            .with_residual(true)
            .with_init(WeightInit::Kaiming)
            .init(&ad);
        let close = |a: Tensor<2>, b: Tensor<2>| {
            for (a, b) in floats(a).iter().zip(floats(b)) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        };
        let running = |m: &mlp_model::Mlp| floats(m.hidden[1].norm.as_ref().unwrap().running_mean.value_sync());
        // Batch statistics: a training step's forward pass, less its dropout,
        // compared with the training pass of the same network without its
        // dropout layers (a clone: a second seeded draw could interleave with
        // other tests' draws from Burn's one generator).
        let mut no_dropout = model.clone();
        for block in &mut no_dropout.hidden {
            block.dropout = None;
        }
        let (logits, _) = model.forward_pure(x.clone(), NormStatistics::Batch);
        assert_eq!(running(&model), [0.0; 6], "the running statistics are untouched");
        close(logits.inner(), no_dropout.forward(x.clone()).inner());

        // That training pass moved the running mean off 0; the running
        // statistics give the eval model's logits, and gradients, and stay put.
        let before = running(&no_dropout);
        assert!(before.iter().any(|v| v.abs() > 1e-4), "{before:?}");
        let (logits, traces) = no_dropout.forward_pure(x.clone(), NormStatistics::Running);
        close(logits.clone().inner(), no_dropout.valid().forward(x.clone().inner()));
        assert_eq!(running(&no_dropout), before);
        let grads = logits.sum().backward();
        let grad = no_dropout.hidden[0]
            .linear
            .weight
            .val()
            .grad(&grads)
            .expect("a weight gradient");
        assert!(grad.abs().sum().into_scalar::<f64>() > 0.0);

        // Each trace: the ReLU's output, then the layer's (plus its input where residual).
        assert_eq!(traces.len(), 3);
        for (i, trace) in traces.iter().enumerate() {
            assert!(floats(trace.activated.clone().inner()).iter().all(|&v| v >= 0.0));
            let sum = match no_dropout.hidden[i].residual {
                true => traces[i - 1].output.clone() + trace.activated.clone(),
                false => trace.activated.clone(),
            };
            assert_eq!(floats(sum.inner()), floats(trace.output.clone().inner()), "layer {i}");
        }
        let shapes: Vec<[usize; 2]> = model.linear_weights().iter().map(|w| w.dims()).collect();
        assert_eq!(shapes, [[8, 6], [6, 6], [6, 5], [5, 3]]);
    }

    /// The caller's masks replace the dropout layers' draws: all ones is the
    /// training pass without dropout; a zero mask silences a layer (its
    /// units, and everything after it but the output bias).
    #[test]
    fn forward_masked_applies_the_callers_dropout_masks() {
        let ad = device().autodiff();
        let config = MlpConfig::new(vec![6, 5])
            .with_input(8)
            .with_batch_norm(true)
            .with_dropout(0.5);
        let model = config.init_seeded(4, &ad);
        assert_eq!((model.dropout(), model.hidden_widths()), (0.5, vec![6, 5]));
        let x = Tensor::<2>::from_data(
            TensorData::new((0..32).map(|i| (i as f32 * 0.37).sin()).collect::<Vec<f32>>(), [4, 8]),
            &ad,
        );
        let ones = [Tensor::<2>::ones([4, 6], &ad), Tensor::<2>::ones([4, 5], &ad)];
        let (logits, acts) = model.forward_masked(x.clone(), &ones);
        let (pure, _) = model.forward_pure(x.clone(), NormStatistics::Batch);
        let (a, b) = (floats(logits.inner()), floats(pure.inner()));
        assert!(a.iter().zip(&b).all(|(u, v)| (u - v).abs() < 1e-6), "{a:?} vs {b:?}");
        assert_eq!(acts.len(), 2);
        // Twice the first layer's units (a kept unit scaled by 1 / (1 - 0.5)).
        let twos = [Tensor::<2>::full([4, 6], 2.0, &ad), Tensor::<2>::ones([4, 5], &ad)];
        let (_, doubled) = model.forward_masked(x.clone(), &twos);
        let (first, twice) = (floats(acts[0].clone().inner()), floats(doubled[0].clone().inner()));
        assert!(first.iter().zip(&twice).all(|(u, v)| (2.0 * u - v).abs() < 1e-6));
        let zeros = [Tensor::<2>::zeros([4, 6], &ad), Tensor::<2>::ones([4, 5], &ad)];
        let (_, silenced) = model.forward_masked(x, &zeros);
        assert!(floats(silenced[0].clone().inner()).iter().all(|&v| v == 0.0));
    }

    #[test]
    fn batchnorm_uses_batch_statistics_in_training_and_running_ones_in_eval() {
        let ad = device().autodiff();
        let model = MlpConfig::new(vec![3]).with_input(3).with_batch_norm(true).init(&ad);
        let norm = model.hidden[0].norm.as_ref().unwrap();
        let x = Tensor::<2>::from_floats([[1.0, 10.0, -4.0], [3.0, 20.0, -2.0], [5.0, 30.0, 0.0]], &ad);
        // Training: each feature is standardised over the batch.
        let train_out = norm.forward(x.clone());
        let mean = train_out.clone().mean_dim(0).abs().max().into_scalar::<f64>();
        let var = floats(train_out.square().mean_dim(0));
        assert!(mean < 1e-5);
        for v in var {
            assert!((v - 1.0).abs() < 1e-3, "batch variance {v}");
        }
        // That training pass moved the running mean 10% towards the batch mean [3, 20, -2].
        let running = floats(norm.running_mean.value_sync());
        for (r, e) in running.iter().zip([0.3f32, 2.0, -0.2]) {
            assert!((r - e).abs() < 1e-5, "running mean {running:?}");
        }
        // Eval: running statistics, the same answer for a row alone or in a batch.
        let eval = model.valid();
        let eval_norm = eval.hidden[0].norm.as_ref().unwrap();
        let plain_x = x.inner();
        let batch = floats(eval_norm.forward(plain_x.clone()));
        let row = floats(eval_norm.forward(plain_x.slice([0..1, 0..3])));
        assert_eq!(&batch[..3], &row[..]);
    }

    #[test]
    fn dropout_is_active_in_training_and_inactive_in_eval() {
        let ad = device().autodiff();
        ad.seed(1);
        let model = MlpConfig::new(vec![64]).with_input(16).with_dropout(0.5).init(&ad);
        let x = Tensor::<2>::ones([8, 16], &ad);
        let a = floats(model.forward(x.clone()));
        let b = floats(model.forward(x.clone()));
        assert_ne!(a, b, "dropout should draw a new mask every training pass");

        let eval = model.valid();
        let plain_x = x.inner();
        let c = floats(eval.forward(plain_x.clone()));
        let d = floats(eval.forward(plain_x.clone()));
        assert_eq!(c, d);
        // With dropout off the network is deterministic: the same weights
        // without a dropout layer give the same logits.
        let mut no_dropout = eval.clone();
        no_dropout.hidden[0].dropout = None;
        assert_eq!(c, floats(no_dropout.forward(plain_x)));
    }
}

mod scratch {
    use burn::prelude::*;
    use burn::tensor::{DType, Distribution};
    use mlp_model::scratch::{
        GRADCHECK_THRESHOLD, LossOutput, ParamName, ToyProblem, TwoLayerNet, check_gradients,
        gradcheck::autodiff_gradients, rel_error,
    };

    fn device() -> Device {
        Device::flex()
    }

    fn host(t: Tensor<2>) -> Vec<f64> {
        t.into_data().try_into_vec_as::<f64>().unwrap()
    }

    #[test]
    fn toy_scores_match_the_assignment() {
        // Reference: the assignment's numpy forward pass,
        //   scores = softmax(relu(X @ W1 + b1) @ W2 + b2)
        // stored as `correct_scores` in the fixture; pass mark: sum |diff| < 1e-7.
        let device = device();
        let toy = ToyProblem::embedded();
        let net = toy.net(DType::F64, &device);
        let scores = host(net.scores(toy.inputs(DType::F64, &device)));
        let diff: f64 = scores
            .iter()
            .zip(toy.correct_scores.concat())
            .map(|(a, b)| (a - b).abs())
            .sum();
        assert!(diff < 1e-7, "sum |scores - correct| = {diff:e}");
    }

    #[test]
    fn toy_loss_matches_the_assignment() {
        // Reference: correct_loss = 1.30378789133 (reg = 0.05); pass mark 1e-12.
        let device = device();
        let toy = ToyProblem::embedded();
        let net = toy.net(DType::F64, &device);
        let LossOutput::Loss { loss, .. } =
            net.loss(toy.inputs(DType::F64, &device), Some(toy.labels(&device)), toy.reg)
        else {
            panic!("labels were given")
        };
        let loss = loss.into_scalar::<f64>();
        assert!((loss - 1.30378789133).abs() < 1e-12, "loss {loss:.14}");
    }

    #[test]
    fn toy_gradients_pass_the_finite_difference_check_and_match_autodiff() {
        let device = device();
        let toy = ToyProblem::embedded();
        let net = toy.net(DType::F64, &device);
        let rows = check_gradients(&net, toy.inputs(DType::F64, &device), toy.labels(&device), toy.reg);
        assert_eq!(rows.iter().map(|r| r.elements).collect::<Vec<_>>(), [40, 10, 30, 3]);
        for row in rows {
            assert!(row.numeric_rel_error < GRADCHECK_THRESHOLD, "{row:?}");
            assert!(row.autodiff_max_abs_diff < 1e-12, "{row:?}");
        }
    }

    #[test]
    fn manual_gradients_match_autodiff_on_random_shapes() {
        // A property test over shapes and seeds: the hand-written backward pass
        // must agree with Burn's autodiff for any D, H, C, N.
        let device = device();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |lo: usize, hi: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (state >> 33) as usize % (hi - lo + 1)
        };
        for case in 0..12 {
            let (d, h, c, n) = (next(1, 40), next(1, 30), next(2, 12), next(1, 25));
            device.seed(case);
            let net = TwoLayerNet::init(d, h, c, 0.5, case, DType::F64, &device);
            let x = Tensor::<2>::random([n, d], Distribution::Normal(0.0, 2.0), (&device, DType::F64));
            let labels: Vec<i64> = (0..n).map(|_| next(0, c - 1) as i64).collect();
            let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &device);
            let reg = 0.1 * case as f64;
            let LossOutput::Loss { grads, .. } = net.loss(x.clone(), Some(y.clone()), reg) else {
                panic!("labels were given")
            };
            let reference = autodiff_gradients(&net.params, x, y, reg);
            for name in ParamName::ALL {
                let err = rel_error(&grads.host_values(name), &reference.host_values(name));
                assert!(
                    err < 1e-9,
                    "case {case} (D={d} H={h} C={c} N={n}) {name}: rel error {err:e}"
                );
            }
        }
    }

    #[test]
    fn initial_weights_have_the_requested_scale_and_depend_only_on_the_seed() {
        let device = device();
        let net = TwoLayerNet::init(3072, 50, 10, 1e-4, 42, DType::F32, &device);
        let w1 = net.params.host_values(ParamName::W1);
        let mean = w1.iter().sum::<f64>() / w1.len() as f64;
        let std = (w1.iter().map(|w| (w - mean).powi(2)).sum::<f64>() / w1.len() as f64).sqrt();
        // 153,600 samples: the sample std is within 1% of 1e-4, the mean ~0.
        assert!((std - 1e-4).abs() < 1e-6, "std {std}");
        assert!(mean.abs() < 1e-6, "mean {mean}");
        assert!(net.params.host_values(ParamName::B1).iter().all(|&b| b == 0.0));
        let again = TwoLayerNet::init(3072, 50, 10, 1e-4, 42, DType::F32, &device);
        assert_eq!(w1, again.params.host_values(ParamName::W1));
        let other = TwoLayerNet::init(3072, 50, 10, 1e-4, 43, DType::F32, &device);
        assert_ne!(w1, other.params.host_values(ParamName::W1));
    }

    #[test]
    fn loss_is_stable_for_huge_scores_and_works_in_f32() {
        let device = device();
        let toy = ToyProblem::embedded();
        for dtype in [DType::F32, DType::F64] {
            let mut net = toy.net(dtype, &device);
            // Scores of order 1e4 overflow a naive exp(); log-softmax must not.
            net.params.w2 = net.params.w2.mul_scalar(1e4);
            let LossOutput::Loss { loss, grads } =
                net.loss(toy.inputs(dtype, &device), Some(toy.labels(&device)), toy.reg)
            else {
                panic!("labels were given")
            };
            let loss = loss.into_scalar::<f64>();
            assert!(loss.is_finite(), "{dtype:?}: loss {loss}");
            assert!(grads.host_values(ParamName::W1).iter().all(|g| g.is_finite()));
        }
    }

    #[test]
    fn a_saved_network_loads_back_identical() {
        let device = device();
        let net = TwoLayerNet::init(12, 5, 3, 0.1, 9, DType::F32, &device);
        let dir = std::env::temp_dir().join(format!("two-layer-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("net.bpk");
        net.save_file(&path).unwrap();
        let loaded = TwoLayerNet::load_file(&path, [12, 5, 3], DType::F32, &device).unwrap();
        for name in ParamName::ALL {
            assert_eq!(net.params.host_values(name), loaded.params.host_values(name), "{name}");
        }
        assert!(TwoLayerNet::load_file(&dir.join("missing.bpk"), [12, 5, 3], DType::F32, &device).is_err());
    }

    #[test]
    fn a_bad_fixture_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("toy-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("toy.json");
        std::fs::write(&path, "{\"input_size\": 4}").unwrap();
        let err = ToyProblem::load(&path).unwrap_err().to_string();
        assert!(err.contains("toy.json") && err.contains("not valid"), "{err}");
        let err = ToyProblem::load(&dir.join("missing.json")).unwrap_err().to_string();
        assert!(err.contains("missing.json"), "{err}");
    }
}
