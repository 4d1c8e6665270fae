//! What the CLAP end-to-end tests share: a minimal clack-host host and the path of the
//! plugin library cargo built. Included with `mod common;` by each test file.

use std::path::PathBuf;

use clack_host::prelude::*;

/// Host callbacks the tests don't need to act on.
pub struct TestShared;

impl SharedHandler<'_> for TestShared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

/// A host with no main-thread or audio-thread state of its own.
pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = TestShared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();
}

/// The plugin library cargo built for this profile (newest of the uplifted and the deps copy).
pub fn plugin_library() -> PathBuf {
    let name = format!(
        "{}chorder_plugin{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let candidates = [deps.join(&name), deps.parent().unwrap().join(&name)];
    candidates
        .iter()
        .filter_map(|p| Some((p.metadata().ok()?.modified().ok()?, p.clone())))
        .max()
        .map(|(_, p)| p)
        .unwrap_or_else(|| {
            panic!(
                "no {name} near {}: build chorder-plugin first",
                deps.display()
            )
        })
}

/// A new instance of Chorder (`org.chorder.analyzer`) from a loaded CLAP entry.
pub fn new_instance(entry: &PluginEntry) -> PluginInstance<TestHost> {
    let host_info = HostInfo::new(
        "chorder-tests",
        "Chorder",
        "https://example.invalid",
        "0.1.0",
    )
    .unwrap();
    PluginInstance::<TestHost>::new(
        |_| TestShared,
        |_| (),
        entry,
        c"org.chorder.analyzer",
        &host_info,
    )
    .expect("instantiate")
}

/// What one `process` call of the tests needs besides the processor: audio ports, empty
/// event buffers and one block of input scratch (CLAP input buffers are mutable).
pub struct BlockRunner {
    in_block: Vec<Vec<f32>>,
    in_ports: AudioPorts,
    out_ports: AudioPorts,
    in_events: EventBuffer,
    out_events: EventBuffer,
}

impl BlockRunner {
    /// For `channels` channels in and out and blocks of at most `max_block` frames.
    pub fn new(channels: usize, max_block: usize) -> Self {
        Self {
            in_block: vec![vec![0.0; max_block]; channels],
            in_ports: AudioPorts::with_capacity(channels, 1),
            out_ports: AudioPorts::with_capacity(channels, 1),
            in_events: EventBuffer::new(),
            out_events: EventBuffer::new(),
        }
    }

    /// One `process` call on frames `pos..pos + n`: `input(c)` is channel `c`'s whole
    /// signal, the plugin's output goes to the same frames of `output[c]`.
    pub fn process<'a>(
        &mut self,
        processor: &mut StartedPluginAudioProcessor<TestHost>,
        input: impl Fn(usize) -> &'a [f32],
        output: &mut [Vec<f32>],
        pos: usize,
        n: usize,
    ) {
        for (c, blk) in self.in_block.iter_mut().enumerate() {
            blk[..n].copy_from_slice(&input(c)[pos..pos + n]);
        }
        let input_audio = self.in_ports.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                self.in_block
                    .iter_mut()
                    .map(|b| InputChannel::variable(&mut b[..n])),
            ),
        }]);
        let mut output_audio = self.out_ports.with_output_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_output_only(
                output.iter_mut().map(|o| &mut o[pos..pos + n]),
            ),
        }]);
        processor
            .process(
                &input_audio,
                &mut output_audio,
                &InputEvents::from_buffer(&self.in_events),
                &mut OutputEvents::from_buffer(&mut self.out_events),
                None,
                None,
            )
            .expect("process");
    }
}
