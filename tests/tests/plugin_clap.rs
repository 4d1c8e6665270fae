//! End to end: load the CLAP plugin that cargo built (`libchorder_plugin.so` next to this
//! test binary's directory) with clack-host, process audio in many block sizes, and check
//! that the output is the input, bit for bit. In test builds nice-plug's
//! `assert_process_allocs` is on, so an allocation anywhere in the CLAP process path
//! (wrapper included) aborts this test.

use clack_host::prelude::*;

mod common;

use common::{new_instance, plugin_library, BlockRunner};

fn signal(len: usize, channel: usize) -> Vec<f32> {
    (0..len)
        .map(|i| 0.5 * ((i * (channel + 3)) as f32 * 0.013).sin() + (i % 7) as f32 * 1e-3)
        .collect()
}

#[test]
fn clap_plugin_passes_audio_through_in_any_block_size() {
    let path = plugin_library();
    // SAFETY: the library is our own plugin, built by this workspace.
    let entry = unsafe { PluginEntry::load(&path) }.expect("load the CLAP entry");
    let factory = entry.get_plugin_factory().expect("plugin factory");
    let descriptor = factory
        .plugin_descriptors()
        .find(|d| d.id().map(|id| id.to_bytes()) == Some(&b"org.chorder.analyzer"[..]))
        .expect("Chorder in the factory");
    assert_eq!(descriptor.name().unwrap().to_bytes(), b"Chorder");
    let mut instance = new_instance(&entry);

    const MAX: usize = 1024;
    let config = PluginAudioConfiguration {
        sample_rate: 48_000.0,
        min_frames_count: 1,
        max_frames_count: MAX as u32,
    };
    let stopped = instance.activate(|_, _| (), config).expect("activate");
    let mut processor = stopped.start_processing().expect("start processing");

    let total = 48_000 * 2;
    let input: Vec<Vec<f32>> = (0..2).map(|c| signal(total, c)).collect();
    let mut output = vec![vec![f32::NAN; total]; 2];
    let mut runner = BlockRunner::new(2, MAX);
    let sizes = [1usize, 7, 64, 33, 512, 1024, 128, 1000];
    let (mut pos, mut k, mut calls) = (0, 0, 0);
    while pos < total {
        let n = sizes[k % sizes.len()].min(total - pos);
        k += 1;
        runner.process(&mut processor, |c| &input[c], &mut output, pos, n);
        pos += n;
        calls += 1;
    }
    assert!(calls > 250, "many blocks of different sizes: {calls}");
    for (c, (o, i)) in output.iter().zip(&input).enumerate() {
        let first_diff = o
            .iter()
            .zip(i)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(first_diff, None, "channel {c}: output differs from input");
    }
    let stopped = processor.stop_processing();
    instance.deactivate(stopped);
}
