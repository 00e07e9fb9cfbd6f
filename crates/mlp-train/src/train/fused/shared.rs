//! One pass over the data for several networks that see the same batches
//! (the networks of one seed: their data order comes from the seed alone).
//!
//! The first layer holds about 95% of a step's arithmetic, and for one
//! network it is a skinny product, `[batch × 3,072] · [3,072 × h]`, far from
//! the matrix unit's peak. Side by side, the networks' first layers are one
//! wide product, `x · [W₁ | W₂ | …]`, and their weight gradients another,
//! `xᵀ · [δ₁ | δ₂ | …]`, stepped by each network's Adam chunk by chunk as
//! it is computed (`first_layer`); the batch is gathered and normalised once.
//! Everything after the first layer's product (its activation, BatchNorm,
//! dropout, the later layers, the loss, Adam with each network's own
//! learning rate) stays each network's own [`FusedMlp`].
//!
//! Each network's numbers are those of its own step, bit for bit: a
//! product's output is one dot product over the whole of k, which gemm
//! blocks by k and the cache sizes alone, so the neighbouring columns change
//! no rounding (tested in `gemm`, and here over whole steps). A network that
//! diverges fills only its own columns with NaN.
//!
//! The fused engine trains a job's networks of one seed this way
//! (`FusedStepper`); `--group-size 1` trains them one at a time.

use std::cell::Cell;
use std::ops::Range;

use burn::prelude::*;
use mlp_model::Mlp;
use rayon::prelude::*;

use super::gemm::{MatRef, matmul};
use super::{Activations, AdamStep, Fill, FusedMlp, Moments, StepStats, activate_in_place, first_layer};

thread_local! {
    /// Each thread's activation buffers for the members' steps.
    static SCRATCH: Cell<Activations> = Cell::new(Activations::default());
}

/// Several [`FusedMlp`]s trained on the same batches in one pass.
pub struct SharedPass {
    members: Vec<FusedMlp>,
    /// Per member, the first of its columns in the side-by-side layer.
    offsets: Vec<usize>,
    /// Features per image.
    input: usize,
    /// The members' first-layer widths, summed.
    total: usize,
    /// The members' first-layer weights side by side: [input, total]. The
    /// pass keeps them (and their Adam moments) here, not in the members,
    /// so that nothing is copied between steps.
    weight: Vec<f32>,
    weight_moments: Moments,
    /// Their biases side by side: [total].
    bias: Vec<f32>,
    /// The batch's images: [batch, input].
    x: Vec<f32>,
    /// The first layer's products: [batch, total].
    out: Vec<f32>,
    /// The first layer's deltas side by side: [batch, total].
    deltas: Vec<f32>,
}

impl SharedPass {
    /// The networks to train together; they must read images of one size.
    pub fn new(members: Vec<FusedMlp>) -> Self {
        let widths: Vec<usize> = members.iter().map(|m| m.layers[0].output).collect();
        Self::assemble(&widths, members)
    }

    /// The networks `models` (see [`FusedMlp::from_model`]; `seed` seeds
    /// their dropout masks), whose first layers are `widths` wide, taken one
    /// at a time: a network's first-layer weight is copied into the
    /// side-by-side weight and freed before the next is made.
    pub fn from_models(widths: &[usize], models: impl IntoIterator<Item = Mlp>, seed: u64) -> Self {
        Self::assemble(
            widths,
            models.into_iter().map(|model| FusedMlp::from_model(&model, seed)),
        )
    }

    /// The pass over `members`, whose first layers are `widths` wide.
    fn assemble(widths: &[usize], members: impl IntoIterator<Item = FusedMlp>) -> Self {
        assert!(!widths.is_empty(), "a shared pass needs a network");
        let total: usize = widths.iter().sum();
        let offsets: Vec<usize> = widths
            .iter()
            .scan(0, |next, &width| {
                let offset = *next;
                *next += width;
                Some(offset)
            })
            .collect();
        let mut input = None;
        let mut weight = Vec::new();
        let mut kept = Vec::with_capacity(widths.len());
        for ((mut member, &offset), &width) in members.into_iter().zip(&offsets).zip(widths) {
            let layer = &mut member.layers[0];
            assert_eq!(layer.output, width, "a network's first layer is as wide as said");
            let input = *input.get_or_insert(layer.input);
            assert_eq!(layer.input, input, "a shared pass's networks read images of one size");
            weight.resize(input * total, 0.0);
            for (row, own) in weight.chunks_exact_mut(total).zip(layer.weight.chunks_exact(width)) {
                row[offset..offset + width].copy_from_slice(own);
            }
            // The pass keeps the first layer's weight and moments: the
            // member's own would only take memory.
            layer.weight = Vec::new();
            layer.weight_moments = Moments::zeros(0);
            kept.push(member);
        }
        assert_eq!(kept.len(), widths.len(), "one width per network");
        let input = input.expect("a shared pass needs a network");
        SharedPass {
            members: kept,
            offsets,
            input,
            total,
            weight,
            // Fresh, as the members' own (a network starts its Adam here).
            weight_moments: Moments::zeros(input * total),
            bias: vec![0.0; total],
            x: Vec::new(),
            out: Vec::new(),
            deltas: Vec::new(),
        }
    }

    /// The networks, in order.
    #[cfg(test)]
    pub(super) fn members(&self) -> &[FusedMlp] {
        &self.members
    }

    /// Member `j`'s current weights written into `model` (see
    /// [`FusedMlp::write_into`]).
    pub fn write_into(&self, j: usize, model: Mlp, device: &Device) -> Mlp {
        let (offset, width) = (self.offsets[j], self.members[j].layers[0].output);
        let first: Vec<f32> = self
            .weight
            .chunks_exact(self.total)
            .flat_map(|row| &row[offset..offset + width])
            .copied()
            .collect();
        self.members[j].write_into_with_first(model, device, &first)
    }

    /// One step of every member on the batch `fill` writes (see
    /// [`FusedMlp::step_filled`]): member `j` steps with `adams[j]`.
    /// Returns each member's loss and correct count.
    pub fn step_filled(&mut self, labels: &[u8], fill: &Fill<'_>, adams: &[AdamStep]) -> Vec<StepStats> {
        assert_eq!(adams.len(), self.members.len(), "one Adam step per network");
        let batch = labels.len();
        self.gather_biases();
        self.first_products(batch, fill);
        // Everything after the first layer's product is each network's own
        // work, on its own buffers: the networks share the cores (one at a
        // time, their small single-threaded products left a core idle).
        // Each network's numbers do not depend on which thread runs it.
        let (out, total) = (&self.out, self.total);
        let (stats, blocks): (Vec<StepStats>, Vec<(AdamStep, Range<usize>)>) = self
            .members
            .par_iter_mut()
            .zip(self.offsets.par_iter())
            .zip(adams.par_iter())
            .map(|((member, &offset), &adam)| {
                // The thread's activation buffers, taken out of it (a nested
                // product may steal another network's step onto this thread,
                // which then starts a set of its own).
                let mut scratch = SCRATCH.take();
                member.swap_activations(&mut scratch);
                let width = member.layers[0].output;
                let activation = member.activation_with_product(0);
                let own = &mut member.outputs[0];
                own.resize(batch * width, 0.0);
                for (row, all) in own.chunks_exact_mut(width).zip(out.chunks_exact(total)) {
                    row.copy_from_slice(&all[offset..offset + width]);
                }
                if let Some(activation) = activation {
                    activate_in_place(own, activation);
                }
                member.forward_after_first(batch);
                let stats = member.softmax_cross_entropy(labels);
                member.backward_above_first(batch);
                member.bias_gradient(0, batch);
                let adam = member.next_adam(adam);
                member.apply_adam_but_first_weight(adam);
                member.swap_activations(&mut scratch);
                SCRATCH.set(scratch);
                (stats, (adam, offset..offset + width))
            })
            .unzip();
        self.gather_deltas(batch);
        // dW = xᵀ · [δ₁ | δ₂ | …], stepped chunk by chunk as it is computed.
        first_layer::gradient_and_adam(
            &blocks,
            &mut self.weight,
            &mut self.weight_moments,
            &self.x,
            &self.deltas,
            batch,
        );
        stats
    }

    /// Copies every member's first-layer biases side by side (the members
    /// keep them; they are a few hundred values).
    fn gather_biases(&mut self) {
        for (member, &offset) in self.members.iter().zip(&self.offsets) {
            let layer = &member.layers[0];
            self.bias[offset..offset + layer.output].copy_from_slice(&layer.bias);
        }
    }

    /// out = x · [W₁ | W₂ | …] + [b₁ | b₂ | …]. The batch is filled in row
    /// parts, one per thread; the product is split along its longer side:
    /// by columns once the networks' widths add up to more than the batch,
    /// so that each core packs only its share of the side-by-side weights
    /// (the map's 152 networks put 93 MB there).
    fn first_products(&mut self, batch: usize, fill: &Fill<'_>) {
        let (input, total) = (self.input, self.total);
        self.x.resize(batch * input, 0.0);
        self.out.resize(batch * total, 0.0);
        let rows_per_part = batch.div_ceil(rayon::current_num_threads().max(1)).max(1);
        self.x
            .par_chunks_mut(rows_per_part * input)
            .enumerate()
            .for_each(|(part, x)| {
                let start = part * rows_per_part;
                fill(start..start + x.len() / input, x);
            });
        for row in self.out.chunks_exact_mut(total) {
            row.copy_from_slice(&self.bias);
        }
        matmul(
            &mut self.out,
            MatRef::row_major(&self.x, batch, input),
            MatRef::row_major(&self.weight, input, total),
            true,
        );
    }

    /// Copies every member's first-layer delta side by side.
    fn gather_deltas(&mut self, batch: usize) {
        let total = self.total;
        self.deltas.resize(batch * total, 0.0);
        for (member, &offset) in self.members.iter().zip(&self.offsets) {
            let width = member.layers[0].output;
            for (all, own) in self
                .deltas
                .chunks_exact_mut(total)
                .zip(member.deltas[0].chunks_exact(width))
            {
                all[offset..offset + width].copy_from_slice(own);
            }
        }
    }
}
