//! End-to-end training on the synthetic data set (`chorder_train::synth`): the study's model
//! must explain the target (R² ≥ 0.9 on held-out songs) and rank above HitMusicNet, which
//! sees only the features, and above the random baseline; and a run stopped after k epochs
//! and resumed must end exactly where an uninterrupted run ends.

mod common;

use chorder_models::feature_autoencoder::FeatureAutoencoderConfig;
use chorder_models::hitmusicnet::HitMusicNetConfig;
use chorder_models::regressor::{PopularityModelConfig, RegressorConfig};
use chorder_models::seq_autoencoder::SeqAutoencoderConfig;
use chorder_train::config::{HmnRunConfig, RunConfig};
use chorder_train::data::Dataset;
use chorder_train::metrics::{metrics, random_baseline, win_rate, ModelReport};
use chorder_train::trainer::{predict_hmn, predict_study, train_hitmusicnet, train_study, Control};
use common::{assert_same_stages, info, run, sets, stage};
use std::time::Instant;

fn data() -> (Dataset, Dataset, Dataset) {
    // 48 features, so HitMusicNet's n/2, n/3, n/5 sizing gives a usable net (24-16-9).
    sets(1600, 11, Some(48), 1000, 200)
}

fn study_config(d: &Dataset) -> RunConfig {
    RunConfig {
        seed: 1,
        model: PopularityModelConfig {
            seq: SeqAutoencoderConfig {
                emb_dim: d.emb_dim,
                lstm_dims: vec![24],
                linear_dims: vec![24],
                code_dim: 20,
            },
            features: FeatureAutoencoderConfig {
                input_dim: d.feat_dim,
                hidden_dims: vec![32],
                code_dim: 20,
                ..Default::default()
            },
            head: RegressorConfig::default(),
        },
        seq_autoencoder: stage(40, 50, 3e-3, 5),
        feature_autoencoder: stage(60, 50, 3e-3, 5),
        regressor: stage(200, 50, 1e-3, 20),
        ..Default::default()
    }
}

#[test]
fn study_model_beats_hitmusicnet_beats_random() {
    let (train, val, test) = data();
    let truth = test.targets();

    let t0 = Instant::now();
    let mut control = Control {
        verbose: std::env::var_os("CHORDER_VERBOSE").is_some(),
        ..Default::default()
    };
    let study = train_study(&study_config(&train), &train, &val, None, &mut control)
        .unwrap()
        .expect("not interrupted");
    let study_secs = t0.elapsed().as_secs_f64();
    let p_study = predict_study(&study.model, &test).unwrap();

    let t1 = Instant::now();
    // HitMusicNet's own schedule (batch 256, patience 5) assumes ~76k songs (300 steps an
    // epoch); on 1000 songs the head would stop after a few dozen steps, so it gets small
    // batches and more patience here. Architecture, scalers and losses are unchanged.
    let mut hmn_cfg = HmnRunConfig {
        seed: 1,
        model: HitMusicNetConfig::for_input(train.feat_dim),
        ..Default::default()
    };
    hmn_cfg.regressor.batch_size = 32;
    hmn_cfg.regressor.patience = Some(20);
    hmn_cfg.regressor.epochs = 200;
    hmn_cfg.autoencoder.patience = Some(5);
    let hmn = train_hitmusicnet(&hmn_cfg, &train, &val, None, &mut Control::default())
        .unwrap()
        .expect("not interrupted");
    let hmn_secs = t1.elapsed().as_secs_f64();
    let p_hmn = predict_hmn(&hmn.model, &test).unwrap();

    let (mean, sd) = train.target_mean_sd();
    let p_rand = random_baseline(mean, sd, test.len(), 5);

    let reports = [
        ModelReport::new("chorder", &p_study, &truth),
        ModelReport::new("hitmusicnet", &p_hmn, &truth),
        ModelReport::new("random", &p_rand, &truth),
    ];
    for r in &reports {
        eprintln!(
            "{:<12} MAE {:6.2}  MSE {:7.2}  R² {:6.3}",
            r.name, r.metrics.mae, r.metrics.mse, r.metrics.r2
        );
    }
    for s in &study.stages {
        let per_epoch =
            s.history.iter().map(|e| e.seconds).sum::<f64>() / s.history.len().max(1) as f64;
        eprintln!(
            "stage {:<20} {:3} epochs (best {:3}, early stop {}), {:.3} s/epoch",
            s.name, s.epochs_done, s.best_epoch, s.stopped_early, per_epoch
        );
    }
    for s in &hmn.stages {
        eprintln!(
            "stage {:<20} {:3} epochs (best {:3}, early stop {})",
            s.name, s.epochs_done, s.best_epoch, s.stopped_early
        );
    }
    let w = win_rate(&p_study, &p_hmn, &truth);
    eprintln!(
        "study {study_secs:.1} s, hitmusicnet {hmn_secs:.1} s; study beats HMN on {} / {} songs",
        w.wins,
        truth.len()
    );

    let (r_study, r_hmn, r_rand) = (
        metrics(&p_study, &truth).r2,
        metrics(&p_hmn, &truth).r2,
        metrics(&p_rand, &truth).r2,
    );
    assert!(r_study >= 0.9, "study R² {r_study}");
    assert!(
        r_hmn < r_study && r_hmn > 0.2,
        "HitMusicNet R² {r_hmn} vs study {r_study}"
    );
    assert!(r_rand < 0.0 && r_rand < r_hmn, "random R² {r_rand}");
    assert!(w.rate > 0.5, "win rate {}", w.rate);
    assert!(p_study.iter().all(|p| (0.0..=1.0).contains(p)));
}

#[test]
fn resumed_run_ends_like_an_uninterrupted_one() {
    let (train, val, test) = sets(300, 3, None, 200, 50);
    let mut cfg = study_config(&train);
    cfg.seq_autoencoder = stage(3, 64, 3e-3, 10);
    cfg.feature_autoencoder = stage(3, 64, 3e-3, 10);
    cfg.regressor = stage(4, 64, 1e-3, 10);
    cfg.regressor.optimizer.weight_decay = 1e-4;
    cfg.model.head.dropout = 0.1; // exercise the dropout RNG across the resume

    let dir_a = tempfile::tempdir().unwrap();
    let full = train_study(
        &cfg,
        &train,
        &val,
        Some(dir_a.path()),
        &mut Control::default(),
    )
    .unwrap()
    .unwrap();
    let p_full = predict_study(&full.model, &test).unwrap();
    // Re-running a finished run loads it and changes nothing.
    let again = train_study(
        &cfg,
        &train,
        &val,
        Some(dir_a.path()),
        &mut Control::default(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(predict_study(&again.model, &test).unwrap(), p_full);

    // Stopped mid stage 1a, then mid stage 2, then finished: three calls, same result.
    let dir_b = tempfile::tempdir().unwrap();
    for k in [2, 6] {
        let mut c = Control {
            stop_after_epochs: Some(k),
            ..Default::default()
        };
        assert!(
            train_study(&cfg, &train, &val, Some(dir_b.path()), &mut c)
                .unwrap()
                .is_none(),
            "stopped after {k}"
        );
        assert_eq!(c.epochs_run, k);
        assert!(dir_b.path().join("checkpoint.safetensors").exists());
    }
    let resumed = train_study(
        &cfg,
        &train,
        &val,
        Some(dir_b.path()),
        &mut Control::default(),
    )
    .unwrap()
    .unwrap();
    let p_resumed = predict_study(&resumed.model, &test).unwrap();
    assert_eq!(p_resumed, p_full, "resumed run differs");
    // Same stages, epochs and decisions; losses equal up to JSON's float round trip.
    assert_same_stages(&resumed.stages, &full.stages);
    for (r, f) in resumed.stages.iter().zip(&full.stages) {
        for (er, ef) in r.history.iter().zip(&f.history) {
            assert!(
                (er.train_loss - ef.train_loss).abs() < 1e-12
                    && (er.monitored - ef.monitored).abs() < 1e-12
            );
        }
    }

    // A different seed gives a different model (the comparison above can fail).
    let mut other = cfg.clone();
    other.seed = 2;
    let o = train_study(&other, &train, &val, None, &mut Control::default())
        .unwrap()
        .unwrap();
    assert_ne!(predict_study(&o.model, &test).unwrap(), p_full);
    // And a checkpoint of another config is refused.
    assert!(train_study(
        &other,
        &train,
        &val,
        Some(dir_b.path()),
        &mut Control::default()
    )
    .is_err());
}

#[test]
fn exported_bundles_load_and_predict_the_same() {
    use chorder_models::bundle::ModelBundle;
    use chorder_models::hitmusicnet::HitMusicNet;
    use chorder_models::regressor::PopularityModel;
    use chorder_train::export::{hitmusicnet_bundle, popularity_bundle};

    let (train, val, test) = sets(120, 4, Some(20), 80, 20);
    let mut cfg = study_config(&train);
    cfg.seq_autoencoder = stage(1, 40, 3e-3, 10);
    cfg.feature_autoencoder = stage(1, 40, 3e-3, 10);
    cfg.regressor = stage(2, 40, 1e-3, 10);
    let study = train_study(&cfg, &train, &val, None, &mut Control::default())
        .unwrap()
        .unwrap();
    let info = info();
    let fe = chorder_engine::FrontEndConfig::musicnn();
    let bytes = popularity_bundle(&study.varmap, &cfg.model, &fe, &info).unwrap();
    let bundle = ModelBundle::parse(&bytes).unwrap();
    assert_eq!(bundle.meta().output("popularity").map(|o| o.size), Some(1));
    let loaded = PopularityModel::from_bundle(&bundle).unwrap();
    assert_eq!(
        predict_study(&loaded, &test).unwrap(),
        predict_study(&study.model, &test).unwrap()
    );
    // Streaming through the loaded model gives the batch prediction of a song.
    let s = &test.samples[0];
    let mut state = loaded.zero_state().unwrap();
    let mut code = None;
    for w in s.embeddings.chunks(test.emb_dim) {
        let window =
            candle_core::Tensor::from_slice(w, (1, test.emb_dim), &candle_core::Device::Cpu)
                .unwrap();
        code = Some(loaded.step(&mut state, &window).unwrap());
    }
    let feats =
        candle_core::Tensor::from_slice(&s.features, (1, test.feat_dim), &candle_core::Device::Cpu)
            .unwrap();
    let streamed: Vec<f32> = loaded
        .predict_from_codes(&code.unwrap(), &feats)
        .unwrap()
        .to_vec1()
        .unwrap();
    let batch = predict_study(&loaded, &test.subset(&[0])).unwrap();
    assert!(
        (streamed[0] - batch[0]).abs() < 1e-5,
        "{streamed:?} vs {batch:?}"
    );
    // A popularity bundle is not a HitMusicNet.
    assert!(HitMusicNet::from_bundle(&bundle).is_err());

    let mut hcfg = HmnRunConfig {
        seed: 2,
        model: HitMusicNetConfig::for_input(train.feat_dim),
        ..Default::default()
    };
    hcfg.autoencoder.epochs = 1;
    hcfg.regressor.epochs = 2;
    let hmn = train_hitmusicnet(&hcfg, &train, &val, None, &mut Control::default())
        .unwrap()
        .unwrap();
    let hb = ModelBundle::parse(&hitmusicnet_bundle(&hmn.varmap, &hcfg.model, &fe, &info).unwrap())
        .unwrap();
    let hl = HitMusicNet::from_bundle(&hb).unwrap();
    assert_eq!(
        predict_hmn(&hl, &test).unwrap(),
        predict_hmn(&hmn.model, &test).unwrap()
    );
}

#[test]
fn experiment_writes_bundles_and_reports_and_resumes() {
    use chorder_train::experiment::ExperimentConfig;

    let (train, val, test) = sets(150, 6, Some(30), 100, 20);
    let mut cfg = ExperimentConfig {
        study: study_config(&train),
        ..Default::default()
    };
    cfg.study.seq_autoencoder = stage(2, 50, 3e-3, 10);
    cfg.study.feature_autoencoder = stage(2, 50, 3e-3, 10);
    cfg.study.regressor = stage(2, 50, 1e-3, 10);
    cfg.hitmusicnet.autoencoder.epochs = 2;
    cfg.hitmusicnet.regressor.epochs = 2;
    cfg.fit_to_data(train.emb_dim, train.feat_dim);
    assert_eq!(cfg.hitmusicnet.model.input_dim, 30);
    let out = tempfile::tempdir().unwrap();
    // Stopped inside HitMusicNet's training (6 study epochs + 1), then resumed.
    let mut c = Control {
        stop_after_epochs: Some(7),
        ..Default::default()
    };
    assert!(run(&cfg, (&train, &val, &test), out.path(), &mut c).is_none());
    // The resumed call reports its stages and epochs to an observer.
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let mut resumed = Control {
        observer: Some(Box::new(Recorder(seen.clone()))),
        ..Default::default()
    };
    let r = run(&cfg, (&train, &val, &test), out.path(), &mut resumed).unwrap();
    // HitMusicNet's autoencoder resumes after its first epoch; its regressor starts fresh.
    assert_eq!(
        *seen.borrow(),
        [
            "start hmn_autoencoder 1/2",
            "epoch hmn_autoencoder 2/2",
            "done hmn_autoencoder",
            "start hmn_regressor 0/2",
            "epoch hmn_regressor 1/2",
            "epoch hmn_regressor 2/2",
            "done hmn_regressor",
        ]
    );
    // Each run directory has a log: every epoch of every stage once, and where it resumed.
    let log = std::fs::read_to_string(out.path().join("study/train.log")).unwrap();
    assert_eq!(log.matches(": train loss ").count(), 6, "{log}");
    assert_eq!(log.matches(" done after 2 epochs").count(), 3, "{log}");
    let log = std::fs::read_to_string(out.path().join("hitmusicnet/train.log")).unwrap();
    assert!(
        log.contains("stage hmn_autoencoder resumes at epoch 1/2"),
        "{log}"
    );
    assert_eq!(
        log.matches("stage hmn_autoencoder epoch ").count(),
        2,
        "{log}"
    );
    assert_eq!(
        log.matches("stage hmn_regressor epoch ").count(),
        2,
        "{log}"
    );
    for f in [
        "chorder_popularity.safetensors",
        "hitmusicnet.safetensors",
        "report.json",
        "report.txt",
        "study/checkpoint.safetensors",
        "hitmusicnet/progress.json",
    ] {
        assert!(out.path().join(f).exists(), "{f} missing");
    }
    assert_eq!(r.sizes, [100, 20, 30]);
    assert_eq!(r.eval.models.len(), 3);
    // The bundles record how they were trained and how they did on the test split.
    for (file, stages, model) in [
        ("chorder_popularity.safetensors", &r.study_stages, 0),
        ("hitmusicnet.safetensors", &r.hitmusicnet_stages, 1),
    ] {
        let b = chorder_models::bundle::ModelBundle::load_file(out.path().join(file)).unwrap();
        let t = b.meta().training.clone().expect("training record");
        assert_eq!(t.embedding_model, "test-embedding");
        assert_eq!(t.split_sizes, [100, 20, 30]);
        let names: Vec<&str> = t.stages.iter().map(|s| s.name.as_str()).collect();
        let want: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, want, "{file}");
        assert!(t
            .stages
            .iter()
            .zip(stages)
            .all(|(a, b)| a.epochs == b.epochs_done));
        let m = r.eval.models[model].metrics;
        let held = t.test.expect("test metrics");
        // (JSON may round the last bit.)
        assert_eq!(held.n, m.n, "{file}");
        assert!((held.mae - m.mae).abs() < 1e-12 && (held.r2 - m.r2).abs() < 1e-12);
    }
    let b = chorder_models::bundle::ModelBundle::load_file(
        out.path().join("chorder_popularity.safetensors"),
    )
    .unwrap();
    let run: chorder_train::config::RunConfig =
        serde_json::from_value(b.meta().training.clone().unwrap().run_config).unwrap();
    assert_eq!(run, cfg.study);
    assert_eq!(
        r.hitmusicnet_stages
            .iter()
            .map(|s| s.epochs_done)
            .sum::<usize>(),
        4
    );
    let text = std::fs::read_to_string(out.path().join("report.txt")).unwrap();
    assert!(
        text.contains("hitmusicnet") && text.contains("random"),
        "{text}"
    );
}

/// HitMusicNet's Adam variant (model_1_B; the default is Adadelta, model_1_A) trains on the
/// synthetic set and beats the random baseline N(mean, sd).
#[test]
fn hitmusicnet_with_adam_beats_random() {
    let (train, val, test) = data();
    let truth = test.targets();
    let mut cfg = HmnRunConfig {
        seed: 1,
        model: HitMusicNetConfig::for_input(train.feat_dim),
        ..Default::default()
    };
    cfg.regressor.batch_size = 32;
    cfg.regressor.patience = Some(20);
    cfg.regressor.epochs = 200;
    cfg.regressor.adadelta = None;
    cfg.autoencoder.patience = Some(5);
    let hmn = train_hitmusicnet(&cfg, &train, &val, None, &mut Control::default())
        .unwrap()
        .expect("not interrupted");
    let pred = predict_hmn(&hmn.model, &test).unwrap();
    let (mean, sd) = train.target_mean_sd();
    let rand = random_baseline(mean, sd, test.len(), 5);
    let r_hmn = ModelReport::new("hitmusicnet", &pred, &truth).metrics;
    let r_rand = ModelReport::new("random", &rand, &truth).metrics;
    eprintln!("adam HMN R² {:.3}, random {:.3}", r_hmn.r2, r_rand.r2);
    assert!(r_hmn.r2 > r_rand.r2 + 0.5, "{r_hmn:?} vs {r_rand:?}");
    assert!(r_hmn.mae < r_rand.mae, "{r_hmn:?} vs {r_rand:?}");
}

/// Records what a run tells its observer, one short line per call.
struct Recorder(std::rc::Rc<std::cell::RefCell<Vec<String>>>);

impl chorder_train::trainer::EpochObserver for Recorder {
    fn stage_started(&mut self, p: &chorder_train::checkpoint::StageProgress, max: usize) {
        let line = format!("start {} {}/{max}", p.name, p.epochs_done);
        self.0.borrow_mut().push(line);
    }
    fn epoch_done(&mut self, p: &chorder_train::checkpoint::StageProgress, max: usize) {
        let line = format!("epoch {} {}/{max}", p.name, p.epochs_done);
        self.0.borrow_mut().push(line);
    }
    fn stage_finished(&mut self, p: &chorder_train::checkpoint::StageProgress) {
        self.0.borrow_mut().push(format!("done {}", p.name));
    }
}
