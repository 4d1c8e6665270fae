//! The built CLAP plugin as a host sees it (clack-host loading `libchorder_plugin.so`):
//! - the estimate read back through the plugin state equals `xtask analyze`'s offline result
//!   (`chorder_analysis::offline::analyze_song`) for the same audio, in several block sizes
//!   at 44.1 and 48 kHz, while the audio passes through bit for bit;
//! - the state (settings, chosen model, history) saved from one instance and loaded into a
//!   fresh one is the same;
//! - 16 instances in one process all analyse, and resident memory grows by far less than 16
//!   copies of the model weights.
//!
//! The worker is asynchronous; the host knows the analysis has caught up when the state's
//! `samples_received` equals the samples it sent (the worker saves the state after every
//! chunk it takes from the ring, after analysing it).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chorder_analysis::offline::{analyze_song, SongResult};
use chorder_analysis::uncertainty::Calibration;
use chorder_analysis::{Embedder, PopularityHead};
use chorder_engine::AudioReader;
use chorder_models::builtin;
use chorder_plugin::params::PersistedAnalysis;
use clack_extensions::state::PluginState;
use clack_host::prelude::*;

mod common;

use common::{new_instance, plugin_library, BlockRunner, TestHost};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .into()
}

fn load_entry() -> PluginEntry {
    // SAFETY: the library is our own plugin, built by this workspace.
    unsafe { PluginEntry::load(plugin_library()) }.expect("load the CLAP entry")
}

/// The plugin's state as nice-plug writes it: `{version, params, fields}` in JSON, the
/// persisted fields as JSON strings.
fn save_state(instance: &mut PluginInstance<TestHost>) -> serde_json::Value {
    let handle = instance.plugin_handle();
    let ext: PluginState = handle.get_extension().expect("CLAP state extension");
    let mut bytes = Vec::new();
    ext.save(&handle, &mut bytes).expect("save state");
    // nice-plug's CLAP state: the JSON's length (u64, little endian), then the JSON.
    let (len, json) = bytes.split_at(8);
    assert_eq!(
        u64::from_le_bytes(len.try_into().unwrap()),
        json.len() as u64
    );
    serde_json::from_slice(json).expect("nice-plug state is JSON")
}

fn load_state(instance: &mut PluginInstance<TestHost>, state: &serde_json::Value) {
    let handle = instance.plugin_handle();
    let ext: PluginState = handle.get_extension().expect("CLAP state extension");
    let json = serde_json::to_vec(state).unwrap();
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&json);
    ext.load(&handle, &mut &bytes[..]).expect("load state");
}

/// The analysis part of a saved state (the persisted field `history`).
fn analysis(state: &serde_json::Value) -> PersistedAnalysis {
    let field = state["fields"]["history"]
        .as_str()
        .expect("a `history` field");
    serde_json::from_str(field).expect("PersistedAnalysis JSON")
}

/// Polls the state until the worker has taken `sent` samples (bounded wait).
fn wait_for_analysis(instance: &mut PluginInstance<TestHost>, sent: u64) -> PersistedAnalysis {
    let t = Instant::now();
    loop {
        let a = analysis(&save_state(instance));
        if a.samples_received + a.ring_overflows >= sent {
            return a;
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "the worker took {} of {sent} samples in 300 s",
            a.samples_received
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Activates `instance` at `rate`, feeds `mono` to both channels in blocks of `block`
/// samples (waiting for the worker every half second of audio, so the 2 s ring never
/// overflows), checks the output is the input bit for bit, and returns the analysis read
/// back from the state once the worker has taken everything.
fn run_stereo(
    instance: &mut PluginInstance<TestHost>,
    rate: f64,
    block: usize,
    mono: &[f32],
) -> PersistedAnalysis {
    let config = PluginAudioConfiguration {
        sample_rate: rate,
        min_frames_count: 1,
        max_frames_count: block as u32,
    };
    let stopped = instance.activate(|_, _| (), config).expect("activate");
    let mut processor = stopped.start_processing().expect("start processing");
    let total = mono.len();
    let mut output = vec![vec![f32::NAN; total]; 2];
    let mut runner = BlockRunner::new(2, block);
    let pace = (rate / 2.0) as usize;
    let mut pos = 0;
    let mut next_wait = pace;
    while pos < total {
        let n = block.min(total - pos);
        runner.process(&mut processor, |_| mono, &mut output, pos, n);
        pos += n;
        if pos >= next_wait {
            wait_for_analysis(instance, pos as u64);
            next_wait = pos + pace;
        }
    }
    for (c, o) in output.iter().enumerate() {
        let first_diff = o
            .iter()
            .zip(mono)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(first_diff, None, "channel {c}: output differs from input");
    }
    let a = wait_for_analysis(instance, total as u64);
    instance.deactivate(processor.stop_processing());
    a
}

fn offline(path: &Path) -> (Vec<f32>, u32, SongResult) {
    let embedder = Embedder::shared(builtin::musicnn_bundle().unwrap()).unwrap();
    let head = PopularityHead::shared(builtin::demo_popularity_bundle().unwrap()).unwrap();
    let mut reader = AudioReader::open(path).unwrap();
    let rate = reader.sample_rate();
    let mono = reader.read_to_end().unwrap();
    let mut reader = AudioReader::open(path).unwrap();
    let result = analyze_song(&mut reader, "song", &embedder, Some(&head), 5).unwrap();
    (mono, rate, result)
}

#[test]
fn estimate_read_back_from_the_state_equals_the_offline_analysis() {
    let entry = load_entry();
    for (file, blocks) in [
        ("rock.wav", [64usize, 511, 4096]),
        ("rock_48k_mono.wav", [4096, 511, 64]),
    ] {
        let (mono, rate, reference) = offline(&workspace().join("fixtures/audio").join(file));
        let timeline = &reference.timeline;
        assert!(timeline.len() >= 4, "{file}: {} windows", timeline.len());
        for block in blocks {
            let mut instance = new_instance(&entry);
            let a = run_stereo(&mut instance, rate as f64, block, &mono);
            let what = format!("{file} at {rate} Hz in blocks of {block}");
            assert_eq!(a.samples_received, mono.len() as u64, "{what}");
            assert_eq!(a.ring_overflows, 0, "{what}");
            // A live stream never ends, so the windows the offline run adds when it flushes
            // the end of the song are missing; every other window is there.
            let n = a.windows as usize;
            assert!(
                n <= timeline.len() && n + 2 >= timeline.len(),
                "{what}: {n} windows live, {} offline",
                timeline.len()
            );
            assert_eq!(a.history.len(), n, "{what}");
            for (i, (live, off)) in a.history.iter().zip(timeline).enumerate() {
                let (l, o) = (live.popularity.unwrap(), off.momentary.unwrap());
                assert!((l - o).abs() <= 1e-4, "{what}: window {i}: {l} vs {o}");
            }
            let (l, o) = (a.integrated.unwrap(), timeline[n - 1].integrated.unwrap());
            assert!((l - o).abs() <= 1e-4, "{what}: integrated {l} vs {o}");
            // The demo bundle is calibrated: the state carries its 90 % interval around the
            // integrated estimate, as analyze computes it from the same bundle.
            let cal = Calibration::from_bundle(&builtin::demo_popularity_bundle().unwrap(), 0.9)
                .unwrap()
                .expect("the demo bundle carries a calibration");
            assert_eq!(a.interval, Some(cal.interval(l)), "{what}");
            assert!(a.model_name.contains("demo"), "{}", a.model_name);
        }
    }
}

#[test]
fn state_saved_from_one_instance_loads_into_a_fresh_one() {
    let entry = load_entry();
    let bundle = workspace().join("models/assets/demo_popularity.safetensors");
    let bundle = bundle.to_str().unwrap();

    // A: choose a model bundle and a smoothing time (as a host restoring a session would),
    // then analyse 4 s.
    let mut a = new_instance(&entry);
    let mut state = save_state(&mut a);
    state["fields"]["model-path"] = serde_json::to_string(bundle).unwrap().into();
    state["params"]["smoothing"] = serde_json::json!({ "f32": 7.5 });
    load_state(&mut a, &state);
    let (mono, rate, _) = offline(&workspace().join("fixtures/audio/rock_48k_mono.wav"));
    let analysed = run_stereo(&mut a, rate as f64, 512, &mono[..(rate * 4) as usize]);
    assert!(analysed.windows >= 3, "{analysed:?}");
    assert_eq!(analysed.model_name, "demo_popularity");
    let saved = save_state(&mut a);
    assert_eq!(
        saved["params"]["smoothing"],
        serde_json::json!({ "f32": 7.5 })
    );
    assert_eq!(analysis(&saved), analysed);

    // B: fresh, loads A's state: settings, model choice and history come back ...
    let mut b = new_instance(&entry);
    assert_eq!(analysis(&save_state(&mut b)).windows, 0);
    load_state(&mut b, &saved);
    let loaded = save_state(&mut b);
    assert_eq!(loaded["params"], saved["params"]);
    assert_eq!(
        loaded["fields"]["model-path"],
        saved["fields"]["model-path"]
    );
    assert_eq!(analysis(&loaded), analysed);

    // ... and survive B's activation: its worker loads the chosen model and keeps the history.
    let config = PluginAudioConfiguration {
        sample_rate: 44_100.0,
        min_frames_count: 1,
        max_frames_count: 512,
    };
    let stopped = b.activate(|_, _| (), config).expect("activate");
    let t = Instant::now();
    let running = loop {
        let s = analysis(&save_state(&mut b));
        if s.model_name == analysed.model_name || t.elapsed() > Duration::from_secs(120) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    b.deactivate(stopped);
    assert_eq!(running.model_name, "demo_popularity");
    assert_eq!(running.history, analysed.history);
    assert_eq!(running.integrated, analysed.integrated);
    assert_eq!(running.windows, analysed.windows);
}

/// Resident memory of this process, bytes (`/proc/self/statm`, second field, in pages).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn sixteen_instances_share_one_copy_of_the_weights() {
    let weights: u64 = ["msd_musicnn.safetensors", "demo_popularity.safetensors"]
        .iter()
        .map(|f| {
            std::fs::metadata(workspace().join("models/assets").join(f))
                .unwrap()
                .len()
        })
        .sum();
    let entry = load_entry();
    let (mono, rate, _) = offline(&workspace().join("fixtures/audio/rock_48k_mono.wav"));
    let clip = &mono[..(rate as f32 * 2.5) as usize];

    // One instance analyses a clip: the weights are loaded.
    let mut instances = vec![new_instance(&entry)];
    let first = run_stereo(&mut instances[0], rate as f64, 512, clip);
    assert!(first.windows >= 1);
    let one = resident_bytes();

    // 16 active at once, each fed the clip block by block in turn (all 16 workers run).
    for _ in 1..16 {
        instances.push(new_instance(&entry));
    }
    let config = PluginAudioConfiguration {
        sample_rate: rate as f64,
        min_frames_count: 1,
        max_frames_count: 512,
    };
    let mut processors: Vec<_> = instances
        .iter_mut()
        .map(|i| {
            let stopped = i.activate(|_, _| (), config).expect("activate");
            stopped.start_processing().expect("start processing")
        })
        .collect();
    // Every worker has built its analyzer (weights looked up, or loaded) before any audio.
    for inst in instances.iter_mut() {
        let t = Instant::now();
        while analysis(&save_state(inst)).model_name.is_empty() {
            assert!(t.elapsed() < Duration::from_secs(120), "no model loaded");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let loaded = resident_bytes();
    let mut in_block = vec![vec![0.0f32; 512]; 2];
    let mut out_block = vec![vec![0.0f32; 512]; 2];
    let mut in_ports = AudioPorts::with_capacity(2, 1);
    let mut out_ports = AudioPorts::with_capacity(2, 1);
    let in_events_buf = EventBuffer::new();
    let mut out_events_buf = EventBuffer::new();
    let mut sent = 0;
    for chunk in clip.chunks(512) {
        let n = chunk.len();
        // Every half second, let the workers catch up (the 2 s rings must not overflow).
        if sent % 24_576 == 0 && sent > 0 {
            for (i, inst) in instances.iter_mut().enumerate() {
                wait_for_analysis(inst, (sent + if i == 0 { clip.len() } else { 0 }) as u64);
            }
        }
        sent += n;
        for p in processors.iter_mut() {
            for blk in &mut in_block {
                blk[..n].copy_from_slice(chunk);
            }
            let input_audio = in_ports.with_input_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_input_only(
                    in_block
                        .iter_mut()
                        .map(|b| InputChannel::variable(&mut b[..n])),
                ),
            }]);
            let mut output_audio = out_ports.with_output_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(
                    out_block.iter_mut().map(|o| &mut o[..n]),
                ),
            }]);
            p.process(
                &input_audio,
                &mut output_audio,
                &InputEvents::from_buffer(&in_events_buf),
                &mut OutputEvents::from_buffer(&mut out_events_buf),
                None,
                None,
            )
            .expect("process");
            assert!(out_block.iter().all(|o| o[..n] == *chunk));
        }
    }
    // The first instance already had the clip once; the 16 workers take theirs now.
    let mut results = Vec::new();
    for (i, inst) in instances.iter_mut().enumerate() {
        let sent = clip.len() as u64 * if i == 0 { 2 } else { 1 };
        results.push(wait_for_analysis(inst, sent));
    }
    let sixteen = resident_bytes();
    for (inst, p) in instances.iter_mut().zip(processors) {
        inst.deactivate(p.stop_processing());
    }
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.ring_overflows, 0, "instance {i}");
        let windows = if i == 0 {
            2 * first.windows
        } else {
            first.windows
        };
        assert!(
            r.windows + 1 >= windows,
            "instance {i}: {} windows",
            r.windows
        );
        assert!(r.integrated.is_some(), "instance {i}");
    }
    // 15 more instances with their models loaded: a copy of the weights each would add
    // 15 x 3.9 MB; shared, only the instances' own buffers remain.
    let load_growth = loaded.saturating_sub(one);
    // Running adds each worker's working memory (gemm's per-thread packing slabs, front-end
    // and network activations), not weights.
    let run_growth = sixteen.saturating_sub(one);
    eprintln!(
        "weights {weights} B; resident: 1 instance {one} B, 16 loaded {loaded} B \
         ({:.2} MB per extra instance), 16 running {sixteen} B ({:.2} MB per extra instance)",
        load_growth as f64 / 15.0 / 1e6,
        run_growth as f64 / 15.0 / 1e6
    );
    assert!(
        load_growth < 15 * weights / 4,
        "15 more loaded instances grew resident memory by {load_growth} B; weights are \
         {weights} B"
    );
    assert!(
        run_growth < 15 * 24_000_000,
        "15 more running instances grew resident memory by {run_growth} B"
    );
}
