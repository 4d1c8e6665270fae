//! Training of the study's model and of the HitMusicNet baseline, in stages, with early
//! stopping, per-epoch checkpoints and exact resume.
//!
//! Study model ([`train_study`]): (1a) the sequence autoencoder and (1b) the feature
//! autoencoder on their reconstruction losses, then (2) the regressor on the frozen,
//! precomputed codes with the weighted (or plain) MSE. HitMusicNet ([`train_hitmusicnet`]):
//! (1) its autoencoder on the min-max-scaled features, (2) its regressor on the min-max-scaled
//! codes. Each stage keeps the weights of its best epoch (by [`Monitor`]).

use crate::checkpoint::{epoch_rng, Checkpointer, EpochLog, Progress, StageProgress};
use crate::config::{HmnRunConfig, Monitor, RunConfig, StageConfig};
use crate::data::{Batch, Dataset};
use crate::loss::RegressionLoss;
use crate::optim::StageOptimizer;
use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use chorder_models::feature_autoencoder::Normalizer;
use chorder_models::hitmusicnet::HitMusicNet;
use chorder_models::init::{init_varmap, is_trainable, InitConfig, DTYPE};
use chorder_models::regressor::PopularityModel;
use rand::seq::SliceRandom;
use rand::RngCore;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// Songs per forward pass when evaluating or precomputing codes.
const EVAL_CHUNK: usize = 512;

/// External control of a run.
#[derive(Default)]
pub struct Control {
    /// Stop (as if killed) once this many epochs have run in this call; the checkpoint of
    /// the last one is on disk. `None`: run to the end.
    pub stop_after_epochs: Option<usize>,
    /// Print one line per epoch to stderr.
    pub verbose: bool,
    /// Epochs run so far in this call.
    pub epochs_run: usize,
    /// Told about every stage start, epoch and stage end (e.g. a progress bar).
    pub observer: Option<Box<dyn EpochObserver>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("stop_after_epochs", &self.stop_after_epochs)
            .field("verbose", &self.verbose)
            .field("epochs_run", &self.epochs_run)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// Follows a training run stage by stage (progress bars, logs). Stage names are those of
/// [`StageProgress::name`]; `max_epochs` is the stage's configured limit.
pub trait EpochObserver {
    /// A stage starts, or resumes with `progress.epochs_done` epochs already done.
    fn stage_started(&mut self, _progress: &StageProgress, _max_epochs: usize) {}
    /// An epoch ended; its numbers are the last entry of `progress.history`.
    fn epoch_done(&mut self, _progress: &StageProgress, _max_epochs: usize) {}
    /// The stage ended (epoch limit or early stopping); its best epoch's weights are kept.
    fn stage_finished(&mut self, _progress: &StageProgress) {}
}

/// A finished study run.
pub struct TrainedStudy {
    /// All variables (`seq_ae.*`, `feat_ae.*`, `head.*`), best weights of each stage.
    pub varmap: VarMap,
    /// The model reading those variables.
    pub model: PopularityModel,
    /// Per-stage logs, in order.
    pub stages: Vec<StageProgress>,
    /// The regressor's loss with its resolved statistics.
    pub loss: RegressionLoss,
}

/// A finished HitMusicNet run.
pub struct TrainedHmn {
    /// All variables.
    pub varmap: VarMap,
    /// The model.
    pub model: HitMusicNet,
    /// Per-stage logs.
    pub stages: Vec<StageProgress>,
}

/// 64-bit FNV-1a over bytes.
fn fnv(bytes: impl IntoIterator<Item = u8>, mut h: u64) -> u64 {
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Fingerprint of a config and the data it trains on.
pub(crate) fn fingerprint<C: Serialize>(cfg: &C, train: &Dataset, val: &Dataset) -> String {
    let json = serde_json::to_string(cfg).unwrap_or_default();
    let mut h = fnv(json.bytes(), 0xcbf2_9ce4_8422_2325);
    for ds in [train, val] {
        for s in &ds.samples {
            h = fnv(s.target.to_le_bytes(), h);
            h = fnv((s.n_steps as u64).to_le_bytes(), h);
            h = fnv(s.features.first().copied().unwrap_or(0.0).to_le_bytes(), h);
            h = fnv(
                s.embeddings.first().copied().unwrap_or(0.0).to_le_bytes(),
                h,
            );
        }
    }
    format!("{h:016x}")
}

/// Sets the variable `name` of `vm` to `values`.
pub(crate) fn set_var(vm: &VarMap, name: &str, values: &[f32]) -> Result<()> {
    let data = vm.data().lock().unwrap();
    let var = data
        .get(name)
        .ok_or_else(|| candle_core::Error::Msg(format!("no variable {name}")))?;
    var.set(&Tensor::from_slice(values, values.len(), var.device())?.to_dtype(var.dtype())?)
}

/// Sorted `(name, var)` of the trainable variables under `prefix`.
fn trainable(vm: &VarMap, prefix: &str) -> Vec<(String, Var)> {
    let data = vm.data().lock().unwrap();
    let mut v: Vec<(String, Var)> = data
        .iter()
        .filter(|(n, _)| n.starts_with(prefix) && is_trainable(n))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Copies of all variables as `{prefix}{name}`.
fn snapshot(vm: &VarMap, prefix: &str) -> Result<HashMap<String, Tensor>> {
    let data = vm.data().lock().unwrap();
    data.iter()
        .map(|(n, v)| Ok((format!("{prefix}{n}"), v.as_tensor().copy()?)))
        .collect()
}

/// Sets every variable of `vm` from `tensors[{prefix}{name}]` (all must be present).
fn restore(vm: &VarMap, tensors: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
    let data = vm.data().lock().unwrap();
    for (n, v) in data.iter() {
        let k = format!("{prefix}{n}");
        let t = tensors
            .get(&k)
            .ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks {k}")))?;
        v.set(&t.to_dtype(v.dtype())?)?;
    }
    Ok(())
}

/// The run-level state shared by stages.
pub(crate) struct Run<'a> {
    vm: &'a VarMap,
    ck: Checkpointer,
    pub(crate) progress: Progress,
    /// Tensors of the loaded checkpoint (for the stage in progress), consumed once.
    resume_tensors: Option<HashMap<String, Tensor>>,
    control: &'a mut Control,
}

/// Loss of one mini-batch (indices into the training set), given the epoch's RNG.
pub(crate) type BatchLossFn<'f> = dyn FnMut(&[usize], &mut dyn RngCore) -> Result<Tensor> + 'f;

/// What a stage's closures compute.
pub(crate) struct StageFns<'f> {
    /// Loss of one mini-batch.
    pub(crate) batch_loss: &'f mut BatchLossFn<'f>,
    /// The monitored validation value (lower is better); unused for [`Monitor::TrainLoss`].
    pub(crate) validate: &'f mut dyn FnMut() -> Result<f64>,
}

impl Run<'_> {
    /// Opens `dir`'s checkpoint (if any) for a run with `fingerprint`; restores variables.
    pub(crate) fn open<'a>(
        vm: &'a VarMap,
        dir: Option<&Path>,
        fingerprint: String,
        seed: u64,
        control: &'a mut Control,
    ) -> Result<Run<'a>> {
        let ck = Checkpointer::new(dir)?;
        let mut run = Run {
            vm,
            ck,
            progress: Progress {
                fingerprint: fingerprint.clone(),
                seed,
                done: vec![],
                current: None,
            },
            resume_tensors: None,
            control,
        };
        if let Some(loaded) = run.ck.load()? {
            if loaded.progress.fingerprint != fingerprint {
                candle_core::bail!(
                    "the run directory holds a checkpoint of another config or data set (fingerprint {} ≠ {fingerprint}); use a fresh directory",
                    loaded.progress.fingerprint
                );
            }
            restore(vm, &loaded.tensors, "model.")?;
            run.progress = loaded.progress;
            run.resume_tensors = Some(loaded.tensors);
        }
        Ok(run)
    }

    /// Whether stage `idx` already finished in a previous call.
    fn stage_done(&self, idx: usize) -> bool {
        idx < self.progress.done.len()
    }

    /// A line in the run's `train.log`; a log that cannot be written only warns.
    fn log(&self, line: &str) {
        if let Err(e) = self.ck.log(line) {
            eprintln!("warning: could not write train.log: {e}");
        }
    }

    fn save(
        &self,
        opt: Option<&StageOptimizer>,
        best: Option<&HashMap<String, Tensor>>,
    ) -> Result<()> {
        let mut t = snapshot(self.vm, "model.")?;
        if let Some(opt) = opt {
            t.extend(opt.state_tensors("opt.").0);
        }
        if let Some(best) = best {
            t.extend(best.iter().map(|(k, v)| (format!("best.{k}"), v.clone())));
        }
        self.ck.save(&self.progress, &t)
    }

    /// Runs (or resumes) stage number `idx`. Returns `false` if [`Control`] stopped the run.
    pub(crate) fn stage(
        &mut self,
        idx: usize,
        name: &str,
        cfg: &StageConfig,
        prefix: &str,
        n_train: usize,
        fns: StageFns<'_>,
    ) -> Result<bool> {
        if self.stage_done(idx) {
            return Ok(true);
        }
        let vars = trainable(self.vm, prefix);
        if vars.is_empty() {
            candle_core::bail!("stage {name}: no trainable variables under {prefix}");
        }
        let mut opt = StageOptimizer::new(vars.clone(), cfg.optimizer, cfg.adadelta)?;
        let mut best: HashMap<String, Tensor> = vars
            .iter()
            .map(|(n, v)| Ok((n.clone(), v.as_tensor().copy()?)))
            .collect::<Result<_>>()?;
        let mut st = StageProgress {
            name: name.to_string(),
            epochs_done: 0,
            best: f64::INFINITY,
            best_bits: f64::INFINITY.to_bits(),
            best_epoch: 0,
            bad_epochs: 0,
            stopped_early: false,
            optimizer_steps: 0,
            history: vec![],
        };
        if let Some(cur) = self.progress.current.clone().filter(|c| c.name == name) {
            let tensors = self
                .resume_tensors
                .take()
                .ok_or_else(|| candle_core::Error::Msg("resume without tensors".into()))?;
            opt.load_state(&tensors, "opt.", cur.optimizer_steps)?;
            for (n, t) in best.iter_mut() {
                *t = tensors
                    .get(&format!("best.{n}"))
                    .ok_or_else(|| candle_core::Error::Msg(format!("checkpoint lacks best.{n}")))?
                    .clone();
            }
            st = cur;
            st.best = f64::from_bits(st.best_bits);
        }
        let seed = self.progress.seed;
        let how = if st.epochs_done > 0 {
            "resumes"
        } else {
            "starts"
        };
        self.log(&format!(
            "stage {name} {how} at epoch {}/{} ({:?}, batch {}, {} training songs)",
            st.epochs_done, cfg.epochs, cfg.monitor, cfg.batch_size, n_train
        ));
        if let Some(o) = self.control.observer.as_mut() {
            o.stage_started(&st, cfg.epochs);
        }
        while st.epochs_done < cfg.epochs && !st.stopped_early {
            if self
                .control
                .stop_after_epochs
                .is_some_and(|k| self.control.epochs_run >= k)
            {
                return Ok(false);
            }
            let t0 = Instant::now();
            let epoch = st.epochs_done;
            let mut rng = epoch_rng(seed, idx, epoch);
            let mut order: Vec<usize> = (0..n_train).collect();
            order.shuffle(&mut rng);
            let mut total = 0.0;
            for chunk in order.chunks(cfg.batch_size.max(1)) {
                let loss = (fns.batch_loss)(chunk, &mut rng)?;
                total += loss.to_dtype(DType::F64)?.to_scalar::<f64>()? * chunk.len() as f64;
                opt.backward_step(&loss)?;
            }
            let train_loss = total / n_train.max(1) as f64;
            let monitored = match cfg.monitor {
                Monitor::TrainLoss => train_loss,
                Monitor::ValLoss | Monitor::ValMae => (fns.validate)()?,
            };
            if monitored < st.best - cfg.min_delta {
                st.best = monitored;
                st.best_bits = monitored.to_bits();
                st.best_epoch = epoch;
                st.bad_epochs = 0;
                for (n, v) in &vars {
                    best.insert(n.clone(), v.as_tensor().copy()?);
                }
            } else {
                st.bad_epochs += 1;
            }
            if cfg.patience.is_some_and(|p| st.bad_epochs >= p) {
                st.stopped_early = true;
            }
            st.epochs_done += 1;
            st.optimizer_steps = opt.step_count();
            let seconds = t0.elapsed().as_secs_f64();
            st.history.push(EpochLog {
                epoch,
                train_loss,
                monitored,
                seconds,
            });
            if self.control.verbose {
                eprintln!("{name} epoch {epoch:>4}: train {train_loss:.6} monitored {monitored:.6} ({seconds:.2} s)");
            }
            self.progress.current = Some(st.clone());
            self.save(Some(&opt), Some(&best))?;
            self.log(&format!(
                "stage {name} epoch {}/{}: train loss {train_loss:.6}, monitored {monitored:.6}, best {:.6} at epoch {}, {seconds:.2} s",
                epoch + 1,
                cfg.epochs,
                st.best,
                st.best_epoch + 1
            ));
            if let Some(o) = self.control.observer.as_mut() {
                o.epoch_done(&st, cfg.epochs);
            }
            self.control.epochs_run += 1;
        }
        self.log(&format!(
            "stage {name} done after {} epochs{}: best epoch {} (monitored {:.6})",
            st.epochs_done,
            if st.stopped_early {
                " (early stopping)"
            } else {
                ""
            },
            st.best_epoch + 1,
            st.best
        ));
        if let Some(o) = self.control.observer.as_mut() {
            o.stage_finished(&st);
        }
        // Keep the best epoch's weights.
        for (n, v) in &vars {
            v.set(&best[n])?;
        }
        self.progress.done.push(st);
        self.progress.current = None;
        self.save(None, None)?;
        Ok(true)
    }
}

/// Runs `f` over `0..n` in chunks of [`EVAL_CHUNK`] and concatenates the `[b, …]` results.
pub(crate) fn chunked(n: usize, mut f: impl FnMut(&[usize]) -> Result<Tensor>) -> Result<Tensor> {
    let idx: Vec<usize> = (0..n).collect();
    let parts = idx
        .chunks(EVAL_CHUNK)
        .map(|c| f(c).map(|t| t.detach()))
        .collect::<Result<Vec<_>>>()?;
    Tensor::cat(&parts, 0)
}

/// Mean of a per-chunk scalar, weighted by chunk size.
pub(crate) fn chunked_mean(n: usize, mut f: impl FnMut(&[usize]) -> Result<Tensor>) -> Result<f64> {
    let idx: Vec<usize> = (0..n).collect();
    let mut total = 0.0;
    for c in idx.chunks(EVAL_CHUNK) {
        total += f(c)?.to_dtype(DType::F64)?.to_scalar::<f64>()? * c.len() as f64;
    }
    Ok(total / n.max(1) as f64)
}

/// `f` over every song of `ds` in batches of [`EVAL_CHUNK`] (in order), the `[b, …]`
/// results concatenated to `[ds.len(), …]`.
pub(crate) fn over_batches(
    ds: &Dataset,
    mut f: impl FnMut(&Batch) -> Result<Tensor>,
) -> Result<Tensor> {
    let dev = Device::Cpu;
    chunked(ds.len(), |c| f(&ds.batch(c, &dev)?))
}

/// Rows `idx` of `t` (`[N, …]` → `[idx.len(), …]`).
pub(crate) fn select_rows(t: &Tensor, idx: &[usize]) -> Result<Tensor> {
    let i = Tensor::from_vec(
        idx.iter().map(|&i| i as u32).collect::<Vec<_>>(),
        idx.len(),
        t.device(),
    )?;
    t.index_select(&i, 0)
}

/// Initialises every variable of `vm` with the study's scheme (Xavier-uniform weights with
/// gain 1, constant `bias`) from `seed`.
pub(crate) fn init_study_scheme(vm: &VarMap, seed: u64, bias: f64) -> Result<()> {
    init_varmap(
        vm,
        &InitConfig {
            seed,
            bias,
            gain: 1.0,
        },
    )
    .map(|_| ())
}

/// Sets the normaliser `{prefix}.shift`/`.scale` of `vm` to standardise `rows` (each of
/// length `F`) to mean 0, sd 1.
pub(crate) fn standardise(vm: &VarMap, prefix: &str, rows: &[&[f32]]) -> Result<()> {
    let (shift, scale) = Normalizer::standardize_params(rows);
    set_var(vm, &format!("{prefix}.shift"), &shift)?;
    set_var(vm, &format!("{prefix}.scale"), &scale)
}

/// What a regression stage monitors: with [`Monitor::ValMae`] the mean absolute error of
/// `pred` against `y` (both `[N]`), otherwise `loss` of them.
pub(crate) fn monitored(
    pred: &Tensor,
    y: &Tensor,
    monitor: Monitor,
    loss: &RegressionLoss,
) -> Result<f64> {
    let v = match monitor {
        Monitor::ValMae => (pred - y)?.abs()?.mean_all()?,
        _ => loss.loss(pred, y)?,
    };
    v.to_dtype(DType::F64)?.to_scalar::<f64>()
}

/// Stage `idx`, `name`, training the variables under `prefix` on `loss` of padded batches
/// of `train` (no randomness, e.g. a reconstruction loss), validated by the size-weighted
/// mean of `loss` over `val`. Returns `false` if [`Control`] stopped the run.
pub(crate) fn batch_loss_stage(
    run: &mut Run<'_>,
    (idx, name, cfg, prefix): (usize, &str, &StageConfig, &str),
    (train, val): (&Dataset, &Dataset),
    loss: impl Fn(&Batch) -> Result<Tensor>,
) -> Result<bool> {
    let dev = Device::Cpu;
    let mut batch_loss = |idx: &[usize], _rng: &mut dyn RngCore| -> Result<Tensor> {
        loss(&train.batch(idx, &dev)?)
    };
    let mut validate =
        || -> Result<f64> { chunked_mean(val.len(), |c| loss(&val.batch(c, &dev)?)) };
    let fns = StageFns {
        batch_loss: &mut batch_loss,
        validate: &mut validate,
    };
    run.stage(idx, name, cfg, prefix, train.len(), fns)
}

/// A regressor head: codes `[B, C]` → popularity `[B]`, dropout drawn from the RNG when
/// given (training).
pub(crate) type HeadFn<'f> = dyn Fn(&Tensor, Option<&mut dyn RngCore>) -> Result<Tensor> + 'f;

/// Stage `idx`, `name`: the regressor (variables under `head.`) on frozen, precomputed
/// codes `[N, C]` with targets `[N]` (`train` and `val` as `(codes, targets)`), trained on
/// `loss` and monitored by `cfg.monitor` on the validation codes. Returns `false` if
/// [`Control`] stopped the run.
pub(crate) fn regressor_on_codes_stage(
    run: &mut Run<'_>,
    (idx, name, cfg): (usize, &str, &StageConfig),
    head: &HeadFn<'_>,
    loss: &RegressionLoss,
    (train_codes, train_y): (&Tensor, &Tensor),
    (val_codes, val_y): (&Tensor, &Tensor),
) -> Result<bool> {
    let n_train = train_codes.dim(0)?;
    let mut batch_loss = |idx: &[usize], rng: &mut dyn RngCore| -> Result<Tensor> {
        let pred = head(&select_rows(train_codes, idx)?, Some(rng))?;
        loss.loss(&pred, &select_rows(train_y, idx)?)
    };
    let monitor = cfg.monitor;
    let mut validate =
        || -> Result<f64> { monitored(&head(val_codes, None)?, val_y, monitor, loss) };
    let fns = StageFns {
        batch_loss: &mut batch_loss,
        validate: &mut validate,
    };
    run.stage(idx, name, cfg, "head.", n_train, fns)
}

/// Trains the study's model on `train`, early-stopping on `val`. With `run_dir`, checkpoints
/// every epoch and resumes from an existing checkpoint of the same config and data. Returns
/// `None` when [`Control::stop_after_epochs`] stopped it.
pub fn train_study(
    cfg: &RunConfig,
    train: &Dataset,
    val: &Dataset,
    run_dir: Option<&Path>,
    control: &mut Control,
) -> Result<Option<TrainedStudy>> {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let model =
        PopularityModel::load(cfg.model.clone(), VarBuilder::from_varmap(&vm, DTYPE, &dev))?;
    if model.config().seq.emb_dim != train.emb_dim
        || model.config().features.input_dim != train.feat_dim
    {
        candle_core::bail!(
            "model expects D = {}, F = {}; data has D = {}, F = {}",
            model.config().seq.emb_dim,
            model.config().features.input_dim,
            train.emb_dim,
            train.feat_dim
        );
    }
    init_study_scheme(&vm, cfg.seed, cfg.init_bias)?;
    // Normalisers from the training split (deterministic; also restored with the checkpoint).
    standardise(&vm, "seq_ae.norm", &train.embedding_rows())?;
    standardise(&vm, "feat_ae.norm", &train.feature_rows())?;

    let mut run = Run::open(
        &vm,
        run_dir,
        fingerprint(cfg, train, val),
        cfg.seed,
        control,
    )?;

    // 1a. Sequence autoencoder.
    if !batch_loss_stage(
        &mut run,
        (0, "seq_autoencoder", &cfg.seq_autoencoder, "seq_ae."),
        (train, val),
        |b| model.seq_ae.reconstruction_loss(&b.embeddings, &b.lengths),
    )? {
        return Ok(None);
    }
    // 1b. Feature autoencoder.
    let all_train: Vec<usize> = (0..train.len()).collect();
    let all_val: Vec<usize> = (0..val.len()).collect();
    let train_b = train.batch(&all_train, &dev)?;
    let val_b = val.batch(&all_val, &dev)?;
    {
        let m = &model;
        let feats = &train_b.features;
        let mut batch_loss = |idx: &[usize], _rng: &mut dyn RngCore| -> Result<Tensor> {
            m.feat_ae.reconstruction_loss(&select_rows(feats, idx)?)
        };
        let mut validate = || -> Result<f64> {
            m.feat_ae
                .reconstruction_loss(&val_b.features)?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()
        };
        let fns = StageFns {
            batch_loss: &mut batch_loss,
            validate: &mut validate,
        };
        if !run.stage(
            1,
            "feature_autoencoder",
            &cfg.feature_autoencoder,
            "feat_ae.",
            train.len(),
            fns,
        )? {
            return Ok(None);
        }
    }
    // 2. Regressor on frozen codes.
    let (mean, sd) = train.target_mean_sd();
    let loss = RegressionLoss::new(&cfg.loss, mean, sd);
    {
        let m = &model;
        let codes =
            |ds: &Dataset| over_batches(ds, |b| m.codes(&b.embeddings, &b.lengths, &b.features));
        let (train_codes, val_codes) = (codes(train)?, codes(val)?);
        let head = |x: &Tensor, rng: Option<&mut dyn RngCore>| m.head.forward_t(x, rng);
        if !regressor_on_codes_stage(
            &mut run,
            (2, "regressor", &cfg.regressor),
            &head,
            &loss,
            (&train_codes, &train_b.targets),
            (&val_codes, &val_b.targets),
        )? {
            return Ok(None);
        }
    }
    let stages = run.progress.done.clone();
    Ok(Some(TrainedStudy {
        varmap: vm,
        model,
        stages,
        loss,
    }))
}

/// Predictions in \[0, 1\] of the study's model for every song of `ds`, in order.
pub fn predict_study(model: &PopularityModel, ds: &Dataset) -> Result<Vec<f32>> {
    over_batches(ds, |b| {
        model.forward(&b.embeddings, &b.lengths, &b.features)
    })?
    .to_dtype(DType::F32)?
    .to_vec1()
}

/// Trains HitMusicNet on the feature vectors of `train` (embeddings are ignored).
pub fn train_hitmusicnet(
    cfg: &HmnRunConfig,
    train: &Dataset,
    val: &Dataset,
    run_dir: Option<&Path>,
    control: &mut Control,
) -> Result<Option<TrainedHmn>> {
    train_hitmusicnet_as(
        ["hmn_autoencoder", "hmn_regressor"],
        cfg,
        train,
        val,
        run_dir,
        control,
    )
}

/// [`train_hitmusicnet`] with its two stages named `stage_names` (autoencoder, regressor).
pub(crate) fn train_hitmusicnet_as(
    stage_names: [&str; 2],
    cfg: &HmnRunConfig,
    train: &Dataset,
    val: &Dataset,
    run_dir: Option<&Path>,
    control: &mut Control,
) -> Result<Option<TrainedHmn>> {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let model = HitMusicNet::load(cfg.model.clone(), VarBuilder::from_varmap(&vm, DTYPE, &dev))?;
    if cfg.model.input_dim != train.feat_dim {
        candle_core::bail!(
            "HitMusicNet expects {} features, data has {}",
            cfg.model.input_dim,
            train.feat_dim
        );
    }
    init_study_scheme(&vm, cfg.seed, cfg.init_bias)?;
    let (lo, scale) = Normalizer::minmax_params(&train.feature_rows());
    set_var(&vm, "input_norm.shift", &lo)?;
    set_var(&vm, "input_norm.scale", &scale)?;
    let mut run = Run::open(
        &vm,
        run_dir,
        fingerprint(cfg, train, val),
        cfg.seed,
        control,
    )?;

    let all_train: Vec<usize> = (0..train.len()).collect();
    let all_val: Vec<usize> = (0..val.len()).collect();
    let train_b = train.batch(&all_train, &dev)?;
    let val_b = val.batch(&all_val, &dev)?;
    {
        let m = &model;
        let mut batch_loss = |idx: &[usize], _rng: &mut dyn RngCore| -> Result<Tensor> {
            m.reconstruction_loss(&select_rows(&train_b.features, idx)?)
        };
        let mut validate = || -> Result<f64> {
            m.reconstruction_loss(&val_b.features)?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()
        };
        let fns = StageFns {
            batch_loss: &mut batch_loss,
            validate: &mut validate,
        };
        if !run.stage(0, stage_names[0], &cfg.autoencoder, "ae.", train.len(), fns)? {
            return Ok(None);
        }
    }
    // Min-max scaler of the code, fit on the training codes.
    let raw = model
        .raw_code(&train_b.features)?
        .to_dtype(DType::F32)?
        .to_vec2::<f32>()?;
    let rows: Vec<&[f32]> = raw.iter().map(|r| r.as_slice()).collect();
    let (lo, scale) = Normalizer::minmax_params(&rows);
    set_var(&vm, "code_norm.shift", &lo)?;
    set_var(&vm, "code_norm.scale", &scale)?;
    let (mean, sd) = train.target_mean_sd();
    let loss = RegressionLoss::new(&cfg.loss, mean, sd);
    {
        let m = &model;
        let train_codes = m.code(&train_b.features)?.detach();
        let val_codes = m.code(&val_b.features)?.detach();
        let head = |x: &Tensor, rng: Option<&mut dyn RngCore>| m.head_forward_t(x, rng);
        if !regressor_on_codes_stage(
            &mut run,
            (1, stage_names[1], &cfg.regressor),
            &head,
            &loss,
            (&train_codes, &train_b.targets),
            (&val_codes, &val_b.targets),
        )? {
            return Ok(None);
        }
    }
    let stages = run.progress.done.clone();
    Ok(Some(TrainedHmn {
        varmap: vm,
        model,
        stages,
    }))
}

/// Predictions in \[0, 1\] of HitMusicNet for every song of `ds`.
pub fn predict_hmn(model: &HitMusicNet, ds: &Dataset) -> Result<Vec<f32>> {
    let dev = Device::Cpu;
    let all: Vec<usize> = (0..ds.len()).collect();
    let b = ds.batch(&all, &dev)?;
    model.forward(&b.features)?.to_dtype(DType::F32)?.to_vec1()
}
