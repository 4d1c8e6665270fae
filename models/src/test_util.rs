//! Helpers shared by the unit tests of the sequence models: a seeded initialisation, a
//! copy of a model's variables in f64, and the check that the fused f32 training path's
//! gradients match the f64 tensor path's.

use crate::init::{init_varmap, InitConfig};
use candle_core::{backprop::GradStore, DType, Device, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};

/// Initialises every variable of `vm` with the default scheme and `seed`.
pub(crate) fn init_seeded(vm: &VarMap, seed: u64) {
    init_varmap(
        vm,
        &InitConfig {
            seed,
            ..Default::default()
        },
    )
    .unwrap();
}

/// The same model in f64: `load` builds it on a fresh f64 varmap, whose variables are then
/// set to `vm32`'s values.
pub(crate) fn f64_twin<M>(
    vm32: &VarMap,
    load: impl FnOnce(VarBuilder) -> Result<M>,
) -> (VarMap, M) {
    let vm64 = VarMap::new();
    let m64 = load(VarBuilder::from_varmap(&vm64, DType::F64, &Device::Cpu)).unwrap();
    copy_vars_f64(vm32, &vm64);
    (vm64, m64)
}

/// Sets every variable of `to` (same names, any dtype) to `from`'s value in f64.
fn copy_vars_f64(from: &VarMap, to: &VarMap) {
    for (name, v) in from.data().lock().unwrap().iter() {
        to.data().lock().unwrap()[name]
            .set(&v.as_tensor().to_dtype(DType::F64).unwrap())
            .unwrap();
    }
}

/// Largest absolute entry of `t`, as f64.
pub(crate) fn max_abs(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

/// All entries of `t` as a flat f32 vector.
pub(crate) fn flat(t: Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1().unwrap()
}

/// Largest absolute difference between two equally long vectors.
pub(crate) fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, f32::max)
}

/// Checks the gradient of every trainable variable of `vm32` that `keep` accepts against
/// the same-named variable of `vm64`: `max |g32 − g64| ≤ 1e-4 · max(max |g64|, 1e-3)`, and
/// with `need_gradient` also `max |g64| > 0`. Returns how many variables it checked.
pub(crate) fn assert_grads_match(
    (vm32, g32): (&VarMap, &GradStore),
    (vm64, g64): (&VarMap, &GradStore),
    keep: impl Fn(&str) -> bool,
    need_gradient: bool,
) -> usize {
    let mut checked = 0;
    for (name, v) in vm32.data().lock().unwrap().iter() {
        if !keep(name) || !crate::init::is_trainable(name) {
            continue;
        }
        let w64 = &vm64.data().lock().unwrap()[name];
        let ga = g32
            .get(v.as_tensor())
            .expect(name)
            .to_dtype(DType::F64)
            .unwrap();
        let gb = g64.get(w64.as_tensor()).expect(name).clone();
        let scale = max_abs(&gb);
        if need_gradient {
            assert!(scale > 0.0, "{name}: no gradient");
        }
        let d = max_abs(&(ga - &gb).unwrap());
        assert!(
            d <= 1e-4 * scale.max(1e-3),
            "{name}: gradient differs by {d} (scale {scale})"
        );
        checked += 1;
    }
    checked
}

/// Checks a scalar f32 loss against the same loss in f64: `|a − b| < 1e-5 · max(|b|, 1)`.
pub(crate) fn assert_losses_match(l32: &Tensor, l64: &Tensor) {
    let (a, b) = (
        l32.to_scalar::<f32>().unwrap() as f64,
        l64.to_scalar::<f64>().unwrap(),
    );
    assert!((a - b).abs() < 1e-5 * b.abs().max(1.0), "loss {a} vs {b}");
}
