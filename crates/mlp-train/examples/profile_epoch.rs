//! Where an epoch's time goes on the CPU: batch preparation alone, then
//! forward + backward + Adam step alone on one fixed batch.
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::DType;
use mlp_data::{Normalizer, Preprocess};
use mlp_train::batches::BatchSource;
use mlp_train::bench::synthetic_images;

fn main() {
    let device = Device::flex();
    let train = synthetic_images(49_000, 1);
    let normalizer = Normalizer::fit(Preprocess::Assignment, &train);
    let source = BatchSource::new(&train, &normalizer);
    let order: Vec<usize> = (0..49_000).rev().collect();
    for _ in 0..2 {
        let start = Instant::now();
        for chunk in order.chunks(200) {
            let (x, _) = source.batch(chunk, DType::F32, &device);
            let _ = x.slice([0..1, 0..1]).into_scalar::<f32>();
        }
        println!("batches only: {:.3} s", start.elapsed().as_secs_f64());
    }
    let ad = device.clone().autodiff();
    let (x, y) = source.batch(&order[..200], DType::F32, &ad);
    for hidden in [vec![50], vec![50, 40, 30, 25, 20]] {
        let mut model = mlp_model::MlpConfig::new(hidden.clone()).init(&ad);
        let mut opt = AdamConfig::new()
            .with_weight_decay(Some(WeightDecayConfig::new(1e-3)))
            .init();
        let loss_fn = CrossEntropyLossConfig::new().init(&ad);
        for rep in 0..2 {
            let start = Instant::now();
            for _ in 0..245 {
                let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
                let _grads = GradientsParams::from_grads(loss.backward(), &model);
            }
            let _ = model
                .valid()
                .forward(x.clone().inner())
                .slice([0..1, 0..1])
                .into_scalar::<f32>();
            println!(
                "{hidden:?} 245 forward+backward, no step (rep {rep}): {:.3} s",
                start.elapsed().as_secs_f64()
            );
            let start = Instant::now();
            for _ in 0..245 {
                let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = opt.step(1e-3, model, grads);
            }
            let _ = model
                .valid()
                .forward(x.clone().inner())
                .slice([0..1, 0..1])
                .into_scalar::<f32>();
            println!(
                "{hidden:?} 245 steps on one batch (rep {rep}): {:.3} s",
                start.elapsed().as_secs_f64()
            );
        }
        let w = Tensor::<2>::random([3072, 50], burn::tensor::Distribution::Default, &device);
        let xb = x.clone().inner();
        let start = Instant::now();
        for _ in 0..245 {
            let _ = xb.clone().matmul(w.clone()).slice([0..1, 0..1]).into_scalar::<f32>();
        }
        println!("  245 x [200,3072]x[3072,50]: {:.3} s", start.elapsed().as_secs_f64());
        let g = Tensor::<2>::random([200, 50], burn::tensor::Distribution::Default, &device);
        let start = Instant::now();
        for _ in 0..245 {
            let _ = xb
                .clone()
                .transpose()
                .matmul(g.clone())
                .slice([0..1, 0..1])
                .into_scalar::<f32>();
        }
        println!("  245 x [3072,200]x[200,50]: {:.3} s", start.elapsed().as_secs_f64());
        let start = Instant::now();
        for _ in 0..245 {
            let _ = g
                .clone()
                .transpose()
                .matmul(xb.clone())
                .slice([0..1, 0..1])
                .into_scalar::<f32>();
        }
        println!(
            "  245 x [50,200]x[200,3072] (dW stored [out, in]): {:.3} s",
            start.elapsed().as_secs_f64()
        );
        let w_out_in = Tensor::<2>::random([50, 3072], burn::tensor::Distribution::Default, &device);
        let start = Instant::now();
        for _ in 0..245 {
            let _ = xb
                .clone()
                .matmul(w_out_in.clone().transpose())
                .slice([0..1, 0..1])
                .into_scalar::<f32>();
        }
        println!(
            "  245 x [200,3072]x[50,3072]^T (forward, W stored [out, in]): {:.3} s",
            start.elapsed().as_secs_f64()
        );
    }
}
