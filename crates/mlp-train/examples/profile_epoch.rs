//! Where an epoch's time goes on the CPU ([50] model, 245 steps of 200
//! images): batch preparation, Burn's autodiff step, the fused step, and the
//! fused step's parts (its large matrix products in both weight layouts, and
//! Adam) timed alone. Each line is the best of a few repetitions.
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::DType;
use mlp_data::{IMAGE_BYTES, Normalizer, Preprocess};
use mlp_train::bench::synthetic_images;
use mlp_train::train::HostSplit;
use mlp_train::train::fused::gemm::{MatRef, matmul};
use mlp_train::train::fused::{AdamStep, FusedMlp, Moments};
use rayon::prelude::*;

const STEPS: usize = 245;
const BATCH: usize = 200;

/// Best of 3 timings of `STEPS` calls of `step`, after a few untimed ones.
fn time(name: &str, flop_per_call: f64, mut step: impl FnMut()) {
    (0..10).for_each(|_| step());
    let best = (0..3)
        .map(|_| {
            let start = Instant::now();
            (0..STEPS).for_each(|_| step());
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    let rate = if flop_per_call > 0.0 {
        format!("  {:.1} GFLOP/s", flop_per_call * STEPS as f64 / best / 1e9)
    } else {
        String::new()
    };
    println!("{name:<58} {best:.3} s{rate}");
}

fn main() {
    let device = Device::flex();
    let train = synthetic_images(49_000, 1);
    let normalizer = Normalizer::fit(Preprocess::Assignment, &train);
    let source = HostSplit::new(&train, &normalizer);
    let order: Vec<usize> = (0..49_000).rev().collect();
    let mut chunks = order.chunks(BATCH).cycle();
    time("batches: gather + normalise into a tensor (autodiff)", 0.0, || {
        let (x, _) = source.batch(chunks.next().unwrap(), DType::F32, &device);
        let _ = x.slice([0..1, 0..1]).into_scalar::<f32>();
    });
    let mut buffer = vec![0.0; BATCH * IMAGE_BYTES];
    time("batches: gather + normalise, 2 threads (fused)", 0.0, || {
        let chunk = chunks.next().unwrap();
        buffer
            .par_chunks_mut(25 * IMAGE_BYTES)
            .zip(chunk.par_chunks(25))
            .for_each(|(rows, part)| normalizer.write_to(&train, part, rows));
    });

    let ad = device.clone().autodiff();
    let (x, y) = source.batch(&order[..BATCH], DType::F32, &ad);
    let x_host = normalizer.apply(&train, &order[..BATCH]);
    let labels: Vec<u8> = order[..BATCH].iter().map(|&i| train.label(i)).collect();
    let adam = AdamStep {
        lr: 1e-3,
        weight_decay: 1e-3,
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
        time: 1,
    };
    for hidden in [vec![50], vec![50, 40, 30, 25, 20]] {
        let mut model = mlp_model::MlpConfig::new(hidden.clone()).init(&ad);
        let mut fused = FusedMlp::from_model(&model, 0);
        let mut optimizer = AdamConfig::new()
            .with_weight_decay(Some(WeightDecayConfig::new(1e-3)))
            .init();
        let loss_fn = CrossEntropyLossConfig::new().init(&ad);
        time(&format!("{hidden:?} autodiff: forward + backward + Adam"), 0.0, || {
            let loss = loss_fn.forward(model.clone().forward(x.clone()), y.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(1e-3, model.clone(), grads);
            let _ = model
                .valid()
                .output
                .weight
                .val()
                .slice([0..1, 0..1])
                .into_scalar::<f32>();
        });
        time(&format!("{hidden:?} fused: forward + backward + Adam"), 0.0, || {
            fused.step(&x_host, &labels, adam);
        });
    }

    // The fused step's parts for the first layer of [50].
    let (d, h) = (IMAGE_BYTES, 50);
    let flop = 2.0 * (BATCH * d * h) as f64;
    let w = vec![1e-3f32; d * h];
    let delta = vec![1e-3f32; BATCH * h];
    let mut z = vec![0.0f32; BATCH * h];
    let mut dw = vec![0.0f32; d * h];
    time("x · W, W stored [in, out]", flop, || {
        matmul(
            &mut z,
            MatRef::row_major(&x_host, BATCH, d),
            MatRef::row_major(&w, d, h),
            true,
        )
    });
    time("x · Wᵀ, W stored [out, in]", flop, || {
        matmul(
            &mut z,
            MatRef::row_major(&x_host, BATCH, d),
            MatRef::row_major(&w, h, d).t(),
            true,
        )
    });
    time(
        "zᵀ = W · xᵀ, W stored [out, in], z stored [out, batch]",
        flop,
        || {
            matmul(
                &mut z,
                MatRef::row_major(&w, h, d),
                MatRef::row_major(&x_host, BATCH, d).t(),
                true,
            )
        },
    );
    time(
        "zᵀ = Wᵀ · xᵀ, W stored [in, out], z stored [out, batch]",
        flop,
        || {
            matmul(
                &mut z,
                MatRef::row_major(&w, d, h).t(),
                MatRef::row_major(&x_host, BATCH, d).t(),
                true,
            )
        },
    );
    time("dW = xᵀ · δ into [in, out]", flop, || {
        matmul(
            &mut dw,
            MatRef::row_major(&x_host, BATCH, d).t(),
            MatRef::row_major(&delta, BATCH, h),
            false,
        )
    });
    time("dWᵀ = δᵀ · x into [out, in]", flop, || {
        matmul(
            &mut dw,
            MatRef::row_major(&delta, BATCH, h).t(),
            MatRef::row_major(&x_host, BATCH, d),
            false,
        )
    });
    let mut params = vec![0.01f32; d * h];
    let mut moments = Moments::zeros(d * h);
    time("Adam on W1 (153,600 values)", 0.0, || {
        adam.apply(&mut params, &dw, &mut moments)
    });
    time("Adam on W1, gradient stored transposed", 0.0, || {
        adam.apply_transposed(&mut params, &dw, d, &mut moments)
    });
}
